package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/store"
	"github.com/gated-dev/gated/internal/testenv"
)

// BenchmarkDaemonMemory measures the resident memory (VmRSS) of a running
// gated daemon, models and gallery loaded, with 0 and with 10,000 enrolled
// residents of 3 templates each (descriptors drawn like idols.json's).
func BenchmarkDaemonMemory(b *testing.B) {
	set := evaltest.Idols(b)
	bin := gatedBinary(b)
	for _, n := range []int{0, 10_000} {
		b.Run(fmt.Sprintf("residents=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			kekPath := dir + "/kek"
			kek, err := store.GenerateKEKFile(kekPath)
			if err != nil {
				b.Fatal(err)
			}
			os.Mkdir(dir+"/data", 0o700)
			os.Mkdir(dir+"/camera", 0o700)
			db, err := store.Open(dir+"/data/gated.db", kek, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			z, err := eval.NewSynthesizer(set, 7)
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ {
				r, err := db.AddResident("bench", store.Resident{Name: fmt.Sprintf("R%d", i), Unit: "1"})
				if err != nil {
					b.Fatal(err)
				}
				c := z.Person()
				e := store.Enrollment{Consent: store.Consent{NoticeVersion: "1", NoticeSHA256: [32]byte{1}, Language: "zh-CN", Method: store.ConsentAtDevice}}
				for k := 0; k < 3; k++ {
					e.Templates = append(e.Templates, store.Template{Model: recognizer.Model, Vector: z.Template(c)})
				}
				if _, err := db.Enroll("bench", r.ID, e); err != nil {
					b.Fatal(err)
				}
			}
			db.Close()
			reader, relay := serialtest.New(b), serialtest.New(b)
			cfg := simGate{Dir: dir, Models: testenv.Models(b), Relay: relay.Device,
				Readers: []simReader{{Name: "front", Type: "ascii", Device: reader.Device}},
				Set:     map[string]string{"access.card": `"card"`}}.config()
			os.WriteFile(dir+"/gated.toml", []byte(cfg), 0o600)
			for b.Loop() {
				cmd := exec.Command(bin, "run", "--config", dir+"/gated.toml")
				log, _ := os.Create(dir + "/log")
				cmd.Stdout, cmd.Stderr = log, log
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				deadline := time.Now().Add(60 * time.Second)
				for {
					out, _ := os.ReadFile(dir + "/log")
					if strings.Contains(string(out), "gate running") {
						break
					}
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						b.Fatalf("daemon did not start:\n%s", out)
					}
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(time.Second) // settle
				rss, hwm := procMem(b, cmd.Process.Pid)
				cmd.Process.Signal(os.Interrupt)
				cmd.Wait()
				log.Close()
				b.ReportMetric(rss, "MiB-RSS")
				b.ReportMetric(hwm, "MiB-peak")
			}
		})
	}
}

func procMem(b testing.TB, pid int) (rss, hwm float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fs[1], 64)
		switch fs[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
