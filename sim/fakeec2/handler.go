package fakeec2

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eksnet/eksnet/sim/faults"
)

// xmlns is the namespace every EC2 answer carries.
const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

// APIError is an EC2 error answer: an AWS error code, a message and the HTTP
// status that carries it.
type APIError struct {
	Code    string
	Message string
	Status  int
}

// Error formats the error as CODE: message, as the SDK shows it.
func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// apiErr builds a client error (HTTP 400), as EC2 answers most rejections.
func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

type actionFunc func(ctx context.Context, p params) (any, error)

func (c *Cloud) actions() map[string]actionFunc {
	return map[string]actionFunc{
		"DescribeInstances":               c.describeInstances,
		"DescribeNetworkInterfaces":       c.describeNetworkInterfaces,
		"DescribeSubnets":                 c.describeSubnets,
		"DeleteSubnet":                    c.deleteSubnet,
		"CreateNetworkInterface":          c.createNetworkInterface,
		"AttachNetworkInterface":          c.attachNetworkInterface,
		"DetachNetworkInterface":          c.detachNetworkInterface,
		"DeleteNetworkInterface":          c.deleteNetworkInterface,
		"ModifyNetworkInterfaceAttribute": c.modifyNetworkInterfaceAttribute,
		"AssignPrivateIpAddresses":        c.assignPrivateIPAddresses,
		"UnassignPrivateIpAddresses":      c.unassignPrivateIPAddresses,
		"CreateTags":                      c.createTags,
	}
}

// Handler returns the EC2 query API as an http.Handler.
func (c *Cloud) Handler() http.Handler {
	acts := c.actions()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := requestID()
		var action string
		code := ""
		defer func() {
			c.cfg.Calls.Record(faults.Call{Time: start, Service: "ec2", Action: action, Code: code,
				Source: r.RemoteAddr, Duration: time.Since(start)})
		}()
		if err := r.ParseForm(); err != nil {
			code = "InvalidQueryParameter"
			writeError(w, reqID, apiErr(code, "cannot parse the request: %v", err))
			return
		}
		action = r.Form.Get("Action")
		if action == "" {
			action = "(none)"
			code = "MissingAction"
			writeError(w, reqID, apiErr(code, "the request must contain the parameter Action"))
			return
		}
		dec := c.cfg.Faults.EC2(action)
		if dec.Latency > 0 {
			t := time.NewTimer(dec.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				code = "RequestCanceled"
				return
			}
		}
		if dec.Code != "" {
			code = dec.Code
			writeError(w, reqID, &APIError{Code: dec.Code, Message: "injected fault", Status: dec.Status})
			return
		}
		fn, ok := acts[action]
		if !ok {
			code = "InvalidAction"
			writeError(w, reqID, apiErr(code, "the action %s is not valid for this web service", action))
			return
		}
		out, err := fn(r.Context(), params(r.Form))
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) {
				c.log.Error("ec2 action failed", "action", action, "err", err)
				ae = &APIError{Code: "InternalError", Message: err.Error(), Status: http.StatusInternalServerError}
			}
			code = ae.Code
			writeError(w, reqID, ae)
			return
		}
		if c.cfg.Faults.AnswerLost(action) {
			code = "InternalError"
			writeError(w, reqID, &APIError{Code: code, Message: "injected fault: the call took effect, its answer was lost", Status: http.StatusInternalServerError})
			return
		}
		c.log.Debug("ec2 call", "action", action, "source", r.RemoteAddr)
		if err := writeOK(w, action, reqID, out); err != nil {
			c.log.Error("writing ec2 answer", "action", action, "err", err)
		}
	})
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func writeOK(w http.ResponseWriter, action, reqID string, out any) error {
	var inner bytes.Buffer
	if err := xml.NewEncoder(&inner).EncodeElement(out, xml.StartElement{Name: xml.Name{Local: "x"}}); err != nil {
		return err
	}
	body := inner.String()
	body = strings.TrimSuffix(strings.TrimPrefix(body, "<x>"), "</x>")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, err := fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%sResponse xmlns=%q><requestId>%s</requestId>%s</%sResponse>",
		action, xmlns, reqID, body, action)
	return err
}

func writeError(w http.ResponseWriter, reqID string, e *APIError) {
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(e.Message))
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>",
		e.Code, msg.String(), reqID)
}

// params reads EC2 query parameters, where lists are flattened as Name.N and
// structures as Name.Field.
type params url.Values

func (p params) str(key string) string { return url.Values(p).Get(key) }

func (p params) has(key string) bool { _, ok := p[key]; return ok }

// require returns the value of a mandatory parameter or MissingParameter.
func (p params) require(key string) (string, error) {
	v := p.str(key)
	if v == "" {
		return "", apiErr("MissingParameter", "the request must contain the parameter %s", key)
	}
	return v, nil
}

// integer returns an optional integer parameter; ok is false when absent.
func (p params) integer(key string) (n int, ok bool, err error) {
	if !p.has(key) {
		return 0, false, nil
	}
	n, err = strconv.Atoi(p.str(key))
	if err != nil {
		return 0, true, apiErr("InvalidParameterValue", "value (%s) for parameter %s is invalid: expected an integer", p.str(key), key)
	}
	return n, true, nil
}

// boolean returns an optional boolean parameter.
func (p params) boolean(key string) (b bool, ok bool, err error) {
	if !p.has(key) {
		return false, false, nil
	}
	b, err = strconv.ParseBool(p.str(key))
	if err != nil {
		return false, true, apiErr("InvalidParameterValue", "value (%s) for parameter %s is invalid: expected true or false", p.str(key), key)
	}
	return b, true, nil
}

// indexes returns the sorted N of every key prefix.N[.rest].
func (p params) indexes(prefix string) []int {
	seen := map[int]bool{}
	for k := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(num); err == nil {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list returns the values of prefix.1, prefix.2, ...
func (p params) list(prefix string) []string {
	var out []string
	for _, n := range p.indexes(prefix) {
		if v := p.str(fmt.Sprintf("%s.%d", prefix, n)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// tags returns prefix.N.Key / prefix.N.Value pairs.
func (p params) tags(prefix string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range p.indexes(prefix) {
		k := p.str(fmt.Sprintf("%s.%d.Key", prefix, n))
		if k == "" {
			return nil, apiErr("InvalidParameterValue", "tag %s.%d has no key", prefix, n)
		}
		out[k] = p.str(fmt.Sprintf("%s.%d.Value", prefix, n))
	}
	return out, nil
}

// filter is one Filter.N of a Describe call.
type filter struct {
	name   string
	values []string
}

func (p params) filters() []filter {
	var out []filter
	for _, n := range p.indexes("Filter") {
		out = append(out, filter{
			name:   p.str(fmt.Sprintf("Filter.%d.Name", n)),
			values: p.list(fmt.Sprintf("Filter.%d.Value", n)),
		})
	}
	return out
}

// page cuts items by MaxResults / NextToken (an offset), as Describe calls do.
func page[T any](p params, items []T) ([]T, string, error) {
	start := 0
	if tok := p.str("NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", apiErr("InvalidParameterValue", "the token %q is invalid", tok)
		}
		start = n
	}
	max, ok, err := p.integer("MaxResults")
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return items[start:], "", nil
	}
	if max < 5 || max > 1000 {
		return nil, "", apiErr("InvalidParameterValue", "value (%d) for parameter MaxResults is invalid: must be between 5 and 1000", max)
	}
	end := min(start+max, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}
