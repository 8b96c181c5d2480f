package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/fdring/fdring/shm"
	"golang.org/x/sys/unix"
)

// childEnv selects child mode: the test binary, re-executed with this set,
// runs child(mode) instead of the tests.
const childEnv = "SHM_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := child(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child receives a memfd and its size over the socket on fd 3, does what
// mode says, and reports "ok" or what went wrong over the same socket.
func child(mode string) error {
	f := os.NewFile(3, "parent")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return err
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		return err
	}
	var hdr [8]byte
	n, fds, err := shm.RecvFds(conn, hdr[:], 1)
	if err != nil {
		return err
	}
	if n != len(hdr) || len(fds) != 1 {
		return fmt.Errorf("got %d bytes and %d fds", n, len(fds))
	}
	size := int(binary.LittleEndian.Uint64(hdr[:]))
	report := "ok"
	if err := childWork(mode, fds[0], size); err != nil {
		report = err.Error()
	}
	_, err = conn.Write([]byte(report))
	return err
}

func childWork(mode string, fd, size int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return err
	}
	if flags&unix.FD_CLOEXEC == 0 {
		return errors.New("received fd is not close-on-exec")
	}
	switch mode {
	case "write":
		r, err := shm.Map(fd, size)
		if err != nil {
			unix.Close(fd)
			return err
		}
		defer r.Close()
		if err := r.CloseFd(); err != nil { // only the memory is needed
			return err
		}
		fill(r.Bytes(), 9)
		return nil
	case "truncate":
		defer unix.Close(fd)
		var errs []error
		for _, sz := range []int64{0, int64(size / 2), int64(size * 2)} {
			if err := unix.Ftruncate(fd, sz); !errors.Is(err, unix.EPERM) {
				errs = append(errs, fmt.Errorf("ftruncate(%d) = %v, want EPERM", sz, err))
			}
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE); !errors.Is(err, unix.EPERM) {
			errs = append(errs, fmt.Errorf("F_ADD_SEALS = %v, want EPERM", err))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// runChild starts the test binary in child mode, sends it region's memfd,
// and returns what it reports.
func runChild(t *testing.T, mode string, region *shm.Region) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := socketpairFiles(t, unix.SOCK_STREAM)
	conn := unixConn(t, ours)
	ours.Close()

	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()

	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(region.Size()))
	if err := shm.SendFds(conn, hdr[:], region.Fd()); err != nil {
		cancel() // kills the child
		cmd.Wait()
		t.Fatal(err)
	}
	reply := make([]byte, 1024)
	n, readErr := conn.Read(reply)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.Bytes())
	}
	if readErr != nil {
		t.Fatalf("reading the child's report: %v\n%s", readErr, stderr.Bytes())
	}
	return string(reply[:n])
}

func TestCrossProcessWrite(t *testing.T) {
	const size = 64 << 10
	region, err := shm.Create("cross", size)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Close()
	if got := runChild(t, "write", region); got != "ok" {
		t.Fatalf("child: %s", got)
	}
	checkFill(t, region.Bytes(), 9)
}

func TestCrossProcessSealHolds(t *testing.T) {
	region, err := shm.Create("sealed", 8192)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Close()
	fill(region.Bytes(), 10)
	if got := runChild(t, "truncate", region); got != "ok" {
		t.Fatalf("child: %s", got)
	}
	checkFill(t, region.Bytes(), 10) // still mapped, still whole: no SIGBUS
}
