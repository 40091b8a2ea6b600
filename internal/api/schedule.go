package api

import (
	"context"
	"time"
)

// Access sets when a resident (or, with Card, one of their cards) lets its
// holder in. Nil fields are left as they are; a zero time clears that
// limit, an empty Profile or Group clears it. ClearPassback forgets on
// which side of an anti-passback gate the resident is.
type Access struct {
	ValidFrom     *time.Time `json:"valid_from,omitempty"`
	ValidUntil    *time.Time `json:"valid_until,omitempty"`
	Profile       *string    `json:"profile,omitempty"`
	Group         *string    `json:"group,omitempty"`
	Card          string     `json:"card,omitempty"`
	ClearPassback bool       `json:"clear_passback,omitempty"`
}

// AccessState is a resident's limits as stored (zero times: none).
type AccessState struct {
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	Profile    string    `json:"profile,omitempty"`
	Group      string    `json:"group,omitempty"`
	// For a card (Access.Card): its own window.
	Card string `json:"card,omitempty"`
}

// SetAccess changes a resident's (or their card's) access limits.
func (c *Client) SetAccess(ctx context.Context, id string, a Access) (out AccessState, err error) {
	err = c.c.Do(ctx, "PATCH", rpath(id, "access"), a, &out)
	return
}
