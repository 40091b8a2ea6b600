package office

import "crypto/subtle"

func subtleEq(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
