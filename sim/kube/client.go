package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client is a small Kubernetes API client: the few calls the checks make,
// in plain JSON over HTTPS. (client-go would be the obvious choice, but it
// would more than double what `eksnet` compiles; the API is stable JSON.)
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the API server at base (e.g.
// https://127.0.0.1:6443) that sends its requests through hc.
func NewClient(base string, hc *http.Client) *Client { return &Client{base: base, hc: hc} }

// StatusError is a non-2xx answer of the API server.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("API server answered %d: %s", e.Code, e.Body)
}

// NotFound reports whether err is a 404 of the API server.
func NotFound(err error) bool {
	se, ok := err.(*StatusError)
	return ok && se.Code == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{Code: resp.StatusCode, Body: string(out)}
	}
	return out, nil
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, "", nil)
}

// Get decodes the object at path into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	b, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Create POSTs obj to the collection at path.
func (c *Client) Create(ctx context.Context, path string, obj any) error {
	_, err := c.do(ctx, http.MethodPost, path, "application/json", obj)
	return err
}

// Patch merge-patches the object at path.
func (c *Client) Patch(ctx context.Context, path string, patch any) error {
	_, err := c.do(ctx, http.MethodPatch, path, "application/merge-patch+json", patch)
	return err
}

// Delete deletes the object at path; a missing object is not an error.
func (c *Client) Delete(ctx context.Context, path string) error {
	_, err := c.do(ctx, http.MethodDelete, path, "", nil)
	if NotFound(err) {
		return nil
	}
	return err
}

// Pods lists the pods of namespace (all namespaces when empty) matching
// the label selector.
func (c *Client) Pods(ctx context.Context, namespace, selector string) ([]Pod, error) {
	path := "/api/v1/pods"
	if namespace != "" {
		path = "/api/v1/namespaces/" + namespace + "/pods"
	}
	if selector != "" {
		path += "?labelSelector=" + url.QueryEscape(selector)
	}
	var list struct {
		Items []Pod `json:"items"`
	}
	if err := c.Get(ctx, path, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// LastWarning is the most recent Warning event about the pod name in
// namespace (e.g. FailedCreatePodSandBox with the CNI plugin's error): a pod
// stuck in ContainerCreating says why only there. Empty when there is none.
func (c *Client) LastWarning(ctx context.Context, namespace, name string) (reason, message string, err error) {
	var list struct {
		Items []struct {
			Reason        string    `json:"reason"`
			Message       string    `json:"message"`
			LastTimestamp time.Time `json:"lastTimestamp"`
		} `json:"items"`
	}
	sel := url.QueryEscape("involvedObject.kind=Pod,involvedObject.name=" + name + ",type=Warning")
	if err := c.Get(ctx, "/api/v1/namespaces/"+namespace+"/events?fieldSelector="+sel, &list); err != nil {
		return "", "", err
	}
	var last time.Time
	for _, e := range list.Items {
		if reason == "" || !e.LastTimestamp.Before(last) {
			reason, message, last = e.Reason, e.Message, e.LastTimestamp
		}
	}
	return reason, message, nil
}

// SandboxFailures is, per pod name in namespace, when kubelet last reported
// failing to create its sandbox (FailedCreatePodSandBox: the runtime or
// the CNI plugin refused). The API server filters events by reason and type
// (not by time), so the caller compares the times.
func (c *Client) SandboxFailures(ctx context.Context, namespace string) (map[string]time.Time, error) {
	var list struct {
		Items []struct {
			InvolvedObject struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"involvedObject"`
			LastTimestamp time.Time `json:"lastTimestamp"`
			EventTime     time.Time `json:"eventTime"`
		} `json:"items"`
	}
	sel := url.QueryEscape("reason=FailedCreatePodSandBox,type=Warning")
	if err := c.Get(ctx, "/api/v1/namespaces/"+namespace+"/events?fieldSelector="+sel, &list); err != nil {
		return nil, err
	}
	last := map[string]time.Time{}
	for _, e := range list.Items {
		if e.InvolvedObject.Kind != "Pod" {
			continue
		}
		t := e.LastTimestamp
		if e.EventTime.After(t) {
			t = e.EventTime
		}
		if t.After(last[e.InvolvedObject.Name]) {
			last[e.InvolvedObject.Name] = t
		}
	}
	return last, nil
}

// Node fetches one node.
func (c *Client) Node(ctx context.Context, name string) (Node, error) {
	var n Node
	err := c.Get(ctx, "/api/v1/nodes/"+name, &n)
	return n, err
}

// Meta is the part of ObjectMeta the checks read.
type Meta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	CreationTimestamp time.Time         `json:"creationTimestamp"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitempty"`
}

// Condition is a node or pod condition.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Node is the part of a Node the checks read.
type Node struct {
	Metadata Meta `json:"metadata"`
	Spec     struct {
		Taints []struct {
			Key    string `json:"key"`
			Value  string `json:"value,omitempty"`
			Effect string `json:"effect"`
		} `json:"taints,omitempty"`
	} `json:"spec"`
	Status struct {
		Conditions  []Condition       `json:"conditions"`
		Capacity    map[string]string `json:"capacity"`
		Allocatable map[string]string `json:"allocatable"`
		Addresses   []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
		NodeInfo struct {
			KubeletVersion          string `json:"kubeletVersion"`
			ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
		} `json:"nodeInfo"`
	} `json:"status"`
}

// Condition returns the condition of type t (Status "" when absent).
func (n Node) Condition(t string) Condition { return condition(n.Status.Conditions, t) }

// Pod is the part of a Pod the checks read.
type Pod struct {
	Metadata Meta `json:"metadata"`
	Spec     struct {
		NodeName    string `json:"nodeName"`
		HostNetwork bool   `json:"hostNetwork"`
		Containers  []struct {
			Name      string `json:"name"`
			Resources struct {
				Requests map[string]string `json:"requests,omitempty"`
				Limits   map[string]string `json:"limits,omitempty"`
			} `json:"resources"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		Phase             string      `json:"phase"`
		PodIP             string      `json:"podIP"`
		HostIP            string      `json:"hostIP"`
		Conditions        []Condition `json:"conditions"`
		ContainerStatuses []struct {
			Ready bool `json:"ready"`
			State struct {
				Running *struct {
					StartedAt time.Time `json:"startedAt"`
				} `json:"running,omitempty"`
				Waiting *struct {
					Reason  string `json:"reason"`
					Message string `json:"message"`
				} `json:"waiting,omitempty"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// Condition returns the condition of type t (Status "" when absent).
func (p Pod) Condition(t string) Condition { return condition(p.Status.Conditions, t) }

// Running reports whether the pod is Running with every container ready.
func (p Pod) Running() bool {
	if p.Status.Phase != "Running" || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if !c.Ready {
			return false
		}
	}
	return true
}

func condition(cs []Condition, t string) Condition {
	for _, c := range cs {
		if c.Type == t {
			return c
		}
	}
	return Condition{Type: t}
}
