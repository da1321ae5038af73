package simrun

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eksnet/eksnet/cni-agent/rpc"
	"github.com/eksnet/eksnet/sim/kube"
)

// fakePods is an API server serving the pods of one Deployment and the
// sandbox-failure events about them, as a script of time decides. Like the
// real kube-apiserver it answers an event field selector it does not
// support (events select on involvedObject.*, reason, reportingComponent,
// source and type) with 400, so the client cannot filter by time.
type fakePods struct {
	t     *testing.T
	start time.Time
	// running says whether pod i is Running at elapsed d.
	running func(i int, d time.Duration) bool
	// failing says whether kubelet reports pod i's sandbox failing at d.
	failing func(i int, d time.Duration) bool
	pods    int
	listErr bool

	mu       sync.Mutex
	failedAt map[int]time.Time
}

func (f *fakePods) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	d := time.Since(f.start)
	switch {
	case req.URL.Path == "/api/v1/namespaces/"+simNamespace+"/pods":
		if f.listErr {
			http.Error(w, `{"kind":"Status","message":"etcdserver: request timed out"}`, http.StatusInternalServerError)
			return
		}
		var items []map[string]any
		for i := range f.pods {
			status := map[string]any{"phase": "Pending"}
			if f.running(i, d) {
				status = map[string]any{"phase": "Running", "containerStatuses": []any{map[string]any{"ready": true}}}
			}
			items = append(items, map[string]any{
				"metadata": map[string]any{"name": podName(i), "uid": podName(i)},
				"spec":     map[string]any{"nodeName": "general-0"},
				"status":   status,
			})
		}
		json.NewEncoder(w).Encode(map[string]any{"items": items})
	case req.URL.Path == "/api/v1/namespaces/"+simNamespace+"/events":
		sel := req.URL.Query().Get("fieldSelector")
		for _, term := range strings.Split(sel, ",") {
			key, _, _ := strings.Cut(term, "=")
			if !strings.HasPrefix(key, "involvedObject.") && key != "reason" && key != "type" && key != "source" && key != "reportingComponent" {
				http.Error(w, `{"kind":"Status","message":"field label not supported: `+key+`"}`, http.StatusBadRequest)
				return
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		var items []map[string]any
		for i := range f.pods {
			if f.failing != nil && f.failing(i, d) {
				f.failedAt[i] = time.Now()
			}
			if t, ok := f.failedAt[i]; ok {
				items = append(items, map[string]any{
					"involvedObject": map[string]any{"kind": "Pod", "name": podName(i)},
					"reason":         "FailedCreatePodSandBox", "type": "Warning",
					// Whole seconds, as the API server keeps them.
					"lastTimestamp": t.UTC().Truncate(time.Second).Format(time.RFC3339),
				})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"items": items})
	default:
		f.t.Errorf("unexpected request %s %s", req.Method, req.URL)
		http.NotFound(w, req)
	}
}

func podName(i int) string { return "fill-" + string(rune('a'+i)) }

// watchRun is a run whose API client talks to f, with the waits' windows
// shortened to window.
func watchRun(t *testing.T, f *fakePods, window time.Duration) (*run, *bytes.Buffer) {
	t.Helper()
	f.t, f.start, f.failedAt = t, time.Now(), map[int]time.Time{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	oldStall, oldEvery := stallWindow, progressEvery
	stallWindow, progressEvery = window, window/4
	t.Cleanup(func() { stallWindow, progressEvery = oldStall, oldEvery })
	var progress bytes.Buffer
	return &run{opts: Options{Progress: &progress}, start: time.Now(), api: kube.NewClient(srv.URL, srv.Client())}, &progress
}

func running(pods []kube.Pod) int {
	n := 0
	for _, p := range pods {
		if p.Running() {
			n++
		}
	}
	return n
}

// Slow pods are not stuck pods: with no pod starting for three stall
// windows, and one of three sandboxes failing on the way (kubelet retries
// it), the wait goes on until every pod runs.
func TestWatchDeploymentWaitsOutSlowPods(t *testing.T) {
	const window = 600 * time.Millisecond
	for _, tc := range []struct {
		name    string
		failing func(i int, d time.Duration) bool
	}{
		{"no sandbox fails", nil},
		{"one of three sandboxes fails, then starts", func(i int, d time.Duration) bool { return i == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePods{pods: 3, failing: tc.failing,
				running: func(i int, d time.Duration) bool { return d > 3*window }}
			r, progress := watchRun(t, f, window)
			pods, starts := r.watchDeployment(t.Context(), "fill", 3, time.Minute, nil)
			if got := running(pods); got != 3 || len(starts) != 3 {
				t.Fatalf("watch gave up before its deadline: %d of 3 Running, %d start times\nprogress:\n%s", got, len(starts), progress)
			}
		})
	}
}

// A Deployment whose waiting pods all have their sandbox failing, again
// and again, is stuck: the wait ends long before its deadline and says why.
func TestWatchDeploymentStopsWhenEveryWaitingSandboxFails(t *testing.T) {
	const window = 500 * time.Millisecond
	f := &fakePods{pods: 3,
		running: func(i int, d time.Duration) bool { return i == 0 },
		failing: func(i int, d time.Duration) bool { return i > 0 }}
	r, progress := watchRun(t, f, window)
	done := make(chan []kube.Pod)
	go func() {
		pods, _ := r.watchDeployment(t.Context(), "fill", 3, 10*time.Minute, nil)
		done <- pods
	}()
	select {
	case pods := <-done:
		if got := running(pods); got != 1 {
			t.Fatalf("Running pods = %d, want 1", got)
		}
		if !strings.Contains(progress.String(), "stopped waiting at 1 of 3 pods Running") {
			t.Fatalf("the wait did not say why it stopped:\n%s", progress)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the wait ran on with every waiting sandbox failing (deadline 10 min)\nprogress:\n%s", progress)
	}
}

// An API server failing every list leaves the wait saying so, not silent.
func TestWatchDeploymentSaysWhenTheAPIServerFails(t *testing.T) {
	f := &fakePods{pods: 1, listErr: true, running: func(int, time.Duration) bool { return false }}
	r, progress := watchRun(t, f, 400*time.Millisecond)
	r.watchDeployment(t.Context(), "fill", 1, 2*time.Second, nil)
	if !strings.Contains(progress.String(), "listing its pods failed") || !strings.Contains(progress.String(), "etcdserver: request timed out") {
		t.Fatalf("progress does not say the API server failed:\n%s", progress)
	}
}

// A wait on an agent's pool says, while it waits, what the pool holds.
func TestWaitPoolSaysWhatItWaitsFor(t *testing.T) {
	old := progressEvery
	progressEvery = 100 * time.Millisecond
	t.Cleanup(func() { progressEvery = old })
	var progress bytes.Buffer
	r := &run{opts: Options{Progress: &progress}, start: time.Now()}
	status := func(context.Context) (rpc.Status, error) { return rpc.Status{Total: 15, Assigned: 2, Cooldown: 3}, nil }
	_, err := r.waitStatus(t.Context(), "general-0", status, 700*time.Millisecond, "idle", func(s rpc.Status) bool { return s.Assigned == 0 })
	if err == nil {
		t.Fatal("waitStatus returned nil for a pool that never turned idle")
	}
	if !strings.Contains(progress.String(), "general-0: waiting for its agent to be idle") || !strings.Contains(progress.String(), "2 assigned, 3 cooling down") {
		t.Fatalf("the wait did not say what it waits for:\n%s", progress.String())
	}
}
