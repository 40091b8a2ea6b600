package bundle

import "crypto/ed25519"

func signWith(id Identity, b []byte) []byte { return ed25519.Sign(id.sign, b) }
