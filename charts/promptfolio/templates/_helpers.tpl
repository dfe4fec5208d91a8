{{/* Chart name, shortened to fit label values. */}}
{{- define "promptfolio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of object names: the release name, plus the chart name unless the release name contains
it. Truncated to 40 characters, so that suffixes like "-webhook-tls" stay within 63.
*/}}
{{- define "promptfolio.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "promptfolio.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "promptfolio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: promptfolio
{{- end }}

{{/* Labels that select the manager pods. */}}
{{- define "promptfolio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "promptfolio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the manager pods and of objects about them. */}}
{{- define "promptfolio.managerSelectorLabels" -}}
{{ include "promptfolio.selectorLabels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{/* The manager's ServiceAccount. */}}
{{- define "promptfolio.managerServiceAccount" -}}
{{- if .Values.manager.serviceAccount.create }}
{{- default (printf "%s-manager" (include "promptfolio.fullname" .)) .Values.manager.serviceAccount.name }}
{{- else }}
{{- required "manager.serviceAccount.name is required when manager.serviceAccount.create is false" .Values.manager.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository, then the digest if set, else the tag or appVersion. */}}
{{- define "promptfolio.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The injected selector's image reference: selectorImage.repository, then selectorImage.digest if
set, else selectorImage.tag, image.tag or appVersion. image.digest is not inherited: it is the
digest of the manager's image.
*/}}
{{- define "promptfolio.selectorImage" -}}
{{- if .Values.selectorImage.digest }}
{{- printf "%s@%s" .Values.selectorImage.repository .Values.selectorImage.digest }}
{{- else }}
{{- printf "%s:%s" .Values.selectorImage.repository (coalesce .Values.selectorImage.tag .Values.image.tag .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Names of the webhook's Service, serving-certificate Secret and configuration. */}}
{{- define "promptfolio.webhookService" -}}
{{ include "promptfolio.fullname" . }}-webhook
{{- end }}
{{- define "promptfolio.webhookCertSecret" -}}
{{ include "promptfolio.fullname" . }}-webhook-tls
{{- end }}
{{- define "promptfolio.webhookCertificate" -}}
{{ include "promptfolio.fullname" . }}-webhook
{{- end }}

{{/* Name of the selector Role and RoleBinding in workload namespaces. */}}
{{- define "promptfolio.selectorRole" -}}
{{ include "promptfolio.fullname" . }}-selector
{{- end }}

{{/* Name of the node-local selectors' DaemonSet and ServiceAccount in workload namespaces. */}}
{{- define "promptfolio.nodeSelector" -}}
{{ include "promptfolio.fullname" . }}-node-selector
{{- end }}

{{/* Labels that select the node-local selector pods. */}}
{{- define "promptfolio.nodeSelectorLabels" -}}
{{ include "promptfolio.selectorLabels" . }}
app.kubernetes.io/component: node-selector
{{- end }}

{{/*
The host ports of the node-local selectors (selector.mode node), as "namespace=port,...": the
manager's --selector-node-ports. A namespace's port is selector.node.hostPorts[namespace], else
selector.node.hostPort. Two namespaces on one port would meet on every node, so that fails.
*/}}
{{- define "promptfolio.nodePorts" -}}
{{- $byPort := dict }}
{{- $pairs := list }}
{{- range $ns := .Values.selector.namespaces }}
{{- $port := toString (index $.Values.selector.node.hostPorts $ns | default $.Values.selector.node.hostPort) }}
{{- if hasKey $byPort $port }}
{{- fail (printf "selector.node: namespaces %s and %s would both use host port %s on every node; give each its own in selector.node.hostPorts" (index $byPort $port) $ns $port) }}
{{- end }}
{{- $_ := set $byPort $port $ns }}
{{- $pairs = append $pairs (printf "%s=%s" $ns $port) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}
