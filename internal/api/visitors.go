package api

import (
	"context"
	"net/url"
	"time"
)

// NewPass asks for a visitor pass.
type NewPass struct {
	Name   string    `json:"name"`
	Reader string    `json:"reader,omitempty"` // "" for every door
	From   time.Time `json:"from"`
	Until  time.Time `json:"until"`
	Uses   int       `json:"uses"`
}

// Pass is a visitor pass as staff see it; it never carries the code.
type Pass struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Issuer    string    `json:"issuer"`
	Reader    string    `json:"reader,omitempty"`
	From      time.Time `json:"from"`
	Until     time.Time `json:"until"`
	Uses      int       `json:"uses"`
	Used      int       `json:"used"`
	State     string    `json:"state"` // valid, not yet valid, expired, used, revoked
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

// IssuedPass is a new pass with its code and QR payload, shown once.
type IssuedPass struct {
	Pass
	Code string `json:"code"`
	QR   string `json:"qr"`
}

// AddPass issues a visitor pass.
func (c *Client) AddPass(ctx context.Context, p NewPass) (out IssuedPass, err error) {
	err = c.c.Do(ctx, "POST", "/v0/visitors", p, &out)
	return out, err
}

// Passes lists every visitor pass.
func (c *Client) Passes(ctx context.Context) (out []Pass, err error) {
	err = c.c.Do(ctx, "GET", "/v0/visitors", nil, &out)
	return out, err
}

// RevokePass revokes a visitor pass.
func (c *Client) RevokePass(ctx context.Context, id string) error {
	return c.c.Do(ctx, "POST", "/v0/visitors/"+url.PathEscape(id)+"/revoke", nil, nil)
}
