package recognizer

/*
#include <malloc.h>
*/
import "C"

// mallocArenas is how many glibc malloc arenas the process may use. By
// default glibc gives each thread that allocates at once its own arena (up
// to 8 per core), and an arena keeps what was freed in it: the C side of
// each decode and detection (OpenCV's and dlib's buffers, tens of MB for a
// large photo) then stays resident once per cgo thread that ever ran one.
// Measured on the real daemon (cmd/gated TestImageBombsAtEnrollment, three
// staff enrollments of ten 2667x4000 photos at once): the peak resident
// memory rose by 514 MiB with glibc's default, by 221 MiB with 2 arenas.
// The gate makes few C allocations at once (one camera loop, one
// enrollment at a time), so 2 arenas cost it nothing measurable.
const mallocArenas = 2

func init() {
	C.mallopt(C.M_ARENA_MAX, mallocArenas)
}
