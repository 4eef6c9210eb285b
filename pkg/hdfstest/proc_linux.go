package hdfstest

import (
	"os/exec"
	"syscall"
)

// The JVM runs in its own process group (so Close can kill everything it
// started) and is killed if the test binary dies without closing it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	// Negative pid: the whole process group the JVM leads.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
