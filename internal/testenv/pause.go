package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PauseAPIServer stops the kube-apiserver process this process started (SIGSTOP) for d and
// resumes it (SIGCONT): a real pause, in which connections stay open and requests hang, as when
// the API server is overloaded or its node stalls. It returns once the process runs again.
func (e *Env) PauseAPIServer(d time.Duration) error {
	pid, err := childPID("kube-apiserver")
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	time.Sleep(d)
	return syscall.Kill(pid, syscall.SIGCONT)
}

// childPID returns the process id of a child of this process whose command is name.
func childPID(name string) (int, error) {
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so cut at the last parenthesis.
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open || s[open+1:closing] != name {
			continue
		}
		if fields := strings.Fields(s[closing+1:]); len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
				return pid, nil
			}
		}
	}
	return 0, errors.New("no " + name + " child process found")
}
