package mutation

import (
	"regexp"
	"slices"
)

// placeholderRE matches a template placeholder such as {{name}} or
// {{ user.first_name }}: two braces, optional spaces, a name that starts with
// a letter or underscore and continues with letters, digits, underscores and
// dots, optional spaces, two braces.
var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}`)

// Placeholders returns the distinct placeholder names in text, sorted.
// Spacing inside the braces does not matter: "{{ name }}" and "{{name}}" both
// name "name".
func Placeholders(text string) []string {
	matches := placeholderRE.FindAllStringSubmatch(text, -1)
	names := make([]string, 0, len(matches))
	for _, m := range matches {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// placeholderDiff reports the names of parent that child lacks and the names
// of child that parent lacks. Both inputs are sorted and distinct.
func placeholderDiff(parent, child []string) (missing, invented []string) {
	for _, name := range parent {
		if _, found := slices.BinarySearch(child, name); !found {
			missing = append(missing, name)
		}
	}
	for _, name := range child {
		if _, found := slices.BinarySearch(parent, name); !found {
			invented = append(invented, name)
		}
	}
	return missing, invented
}
