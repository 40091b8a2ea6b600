package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// APIError is an error the daemon answered with.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// WriteError answers with a JSON error body: {"error": "..."}.
func WriteError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{err.Error()})
}

// WriteJSON answers 200 with v as JSON.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// The status is sent; all that is left is to cut the body short.
		return
	}
}

// ReadJSON decodes a request body holding exactly one JSON value, strictly:
// unknown fields are errors, and so is anything but white space after the
// value (a second object is refused, never silently dropped). A body over
// limit bytes is refused as too large.
func ReadJSON(r *http.Request, limit int64, v any) error {
	body := &countingReader{r: io.LimitReader(r.Body, limit+1)}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if body.n > limit {
		return fmt.Errorf("bad request body: larger than %d bytes", limit)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("bad request body: empty, want one JSON value")
	}
	if err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), body))
	if err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	if body.n > limit {
		return fmt.Errorf("bad request body: larger than %d bytes", limit)
	}
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return errors.New("bad request body: more data after the JSON value: send exactly one JSON value")
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Client talks to the daemon's socket.
type Client struct {
	// Path is the socket's path.
	Path string
	// Dial, if set, replaces dialing Path (tests).
	Dial func(ctx context.Context) (net.Conn, error)
}

func (c *Client) http() *http.Client {
	dial := c.Dial
	if dial == nil {
		dial = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.Path)
		}
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
	}}
}

// Do sends a request with in (if not nil) as its JSON body and decodes a
// JSON answer into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.Send(ctx, method, path, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("control: %s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// Send sends a request with a raw body and returns the response of a
// successful request for the caller to read and close; a daemon error
// becomes an *APIError.
func (c *Client) Send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://gated"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && c.Dial == nil {
			return nil, fmt.Errorf("cannot reach the gated daemon at %s (is it running, and are you in its staff group?): %w", c.Path, err)
		}
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}
