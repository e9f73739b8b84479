package usb_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/sticktest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/status"
	"github.com/gitfleet/gitfleet/usb"
)

// writerEnv makes the test binary a status writer (see TestMain): it
// writes press-01's report onto the repository named by the variable, a
// new one each time, and prints "wrote N" after each, until killed.
// writerDirEnv names its working folder: the test's, since a killed
// writer removes nothing.
const (
	writerEnv    = "GITFLEET_TEST_STICK_WRITER"
	writerDirEnv = "GITFLEET_TEST_STICK_WRITER_DIR"
)

func TestMain(m *testing.M) {
	if repo := os.Getenv(writerEnv); repo != "" {
		if err := writeForever(repo, os.Getenv(writerDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func writeForever(repo, dir string) error {
	loc, err := source.LocalRepository(repo)
	if err != nil {
		return err
	}
	w, err := source.NewStatusWriter(source.StatusConfig{Location: loc, Node: "press-01", Dir: dir, Heartbeat: time.Nanosecond}, nil)
	if err != nil {
		return err
	}
	for i := 1; ; i++ {
		rep := &status.NodeStatus{APIVersion: status.APIVersion, Kind: status.Kind, Metadata: status.Meta{Name: "press-01"},
			Status: status.Status{LastSeen: time.Now().UTC(), Workloads: []status.Workload{{Name: "defect", State: fmt.Sprintf("state-%d", i)}}}}
		if err := w.Report(context.Background(), rep); err != nil {
			return err
		}
		fmt.Printf("wrote %d\n", i)
	}
}

// writer runs the writer on repo and returns it with a channel that gets
// its progress lines.
func startWriter(t *testing.T, repo string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), writerEnv+"="+repo, writerDirEnv+"="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

// awaitWrites waits until the writer has written n reports.
func awaitWrites(t *testing.T, lines <-chan string, n int) {
	t.Helper()
	for got := 0; got < n; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the writer stopped after %d reports", got)
			}
			if strings.HasPrefix(l, "wrote ") {
				got++
			}
		case <-time.After(time.Minute):
			t.Fatalf("the writer wrote %d reports in a minute, want %d", got, n)
		}
	}
}

// checkValid asserts that the stick's repository is one git accepts and
// that the node's report on it reads.
func checkValid(t *testing.T, repo string) {
	t.Helper()
	cmd := gittest.Command(repo, "-c", "safe.directory=*", "fsck", "--no-dangling", "--no-progress")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fsck: %v\n%s", err, out)
	}
	loc, err := source.LocalRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := source.ReadReports(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	if r := reps["press-01"]; r.Err != nil || r.Status == nil {
		t.Fatalf("press-01's report on the stick: %+v", r)
	}
}

// TestStatusOnAStickSurvivesUnplugging writes status reports onto a stick
// and cuts the writing at random moments, by killing the writer and by a
// lazy unmount: the stick's repository is valid every time.
func TestStatusOnAStickSurvivesUnplugging(t *testing.T) {
	s := newSite(t)
	for _, fs := range []sticktest.FS{sticktest.Ext4, sticktest.Vfat} {
		t.Run(string(fs), func(t *testing.T) {
			stick := sticktest.New(t, fs, 32, "")
			mnt := filepath.Join(t.TempDir(), "STICK")
			stick.Mount(mnt)
			if _, err := s.export(t, mnt, nil); err != nil {
				t.Fatal(err)
			}
			repo := filepath.Join(mnt, usb.Dir, usb.RepoDir)
			for i := range 6 {
				cmd, lines := startWriter(t, repo)
				awaitWrites(t, lines, 1)
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // cut anywhere in a write
				cmd.Process.Kill()
				cmd.Wait()
				checkValid(t, repo)
				if t.Failed() {
					t.Fatalf("after kill %d", i)
				}
			}

			// Pulled out while writing: the writer goes on in the detached
			// filesystem until it is killed; the stick then comes back valid.
			cmd, lines := startWriter(t, repo)
			awaitWrites(t, lines, 1)
			stick.Pull()
			cmd.Process.Kill()
			cmd.Wait()
			if ents, _ := os.ReadDir(mnt); len(ents) > 0 {
				t.Errorf("the writer wrote into the folder under the pulled stick: %v", ents)
			}
			if out, err := stick.Fsck(); err != nil {
				t.Fatalf("fsck after the stick was pulled: %v\n%s", err, out)
			}
			stick.Mount(mnt)
			checkValid(t, repo)
			if _, err := usb.Open(filepath.Join(mnt, usb.Dir)); err != nil {
				t.Errorf("the stick no longer opens: %v", err)
			}
		})
	}
}
