// Package osdptest plays an OSDP reader (peripheral device) in Go, holding
// the reader's key, for tests and benchmarks of the control panel: it
// answers at once (so latency figures are the CP's own) and can splice
// forged replies into a secured session. It is not the interop peer: that
// is libosdp (see the osdp package's TestInteropLibosdp).
//
// It must never be imported outside tests.
package osdptest

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback/osdp"
)

// PD is a running fake reader.
type PD struct {
	mu      sync.Mutex
	pending []osdp.Packet // replies to the next polls
	sent    []chan<- time.Time
	forge   func(cmd osdp.Packet, sess *osdp.Session) []byte
	nak     map[byte]byte
	cmds    []osdp.Packet
}

// Start answers commands read from port with key as the reader's SCBK
// until the test ends. port's reads must time out (e.g. serialtest.Port).
func Start(t testing.TB, port io.ReadWriter, key []byte) *PD {
	p := &PD{nak: map[byte]byte{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		p.serve(port, key, stop)
	}()
	return p
}

// Card queues an osdp_RAW reply with data (see osdp.EncodeRaw) for the next
// poll. The returned channel gets the time its bytes were written.
func (p *PD) Card(data []byte) <-chan time.Time {
	return p.queue(osdp.Packet{Code: osdp.ReplyRaw, Data: data})
}

// Keys queues an osdp_KEYPAD reply.
func (p *PD) Keys(keys []byte) <-chan time.Time {
	return p.queue(osdp.Packet{Code: osdp.ReplyKeypad, Data: append([]byte{0, byte(len(keys))}, keys...)})
}

func (p *PD) queue(r osdp.Packet) <-chan time.Time {
	ch := make(chan time.Time, 1)
	p.mu.Lock()
	p.pending = append(p.pending, r)
	p.sent = append(p.sent, ch)
	p.mu.Unlock()
	return ch
}

// Forge makes the next poll's reply the bytes f returns (given the command
// and the session, nil before the secure channel is up), instead of the
// genuine reply. The session is not advanced for the forged reply.
func (p *PD) Forge(f func(cmd osdp.Packet, sess *osdp.Session) []byte) {
	p.mu.Lock()
	p.forge = f
	p.mu.Unlock()
}

// NAK makes the reader refuse command code with a NAK reason.
func (p *PD) NAK(code, reason byte) {
	p.mu.Lock()
	p.nak[code] = reason
	p.mu.Unlock()
}

// Commands returns the opened commands received so far.
func (p *PD) Commands() []osdp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]osdp.Packet(nil), p.cmds...)
}

func (p *PD) serve(port io.ReadWriter, key []byte, stop <-chan struct{}) {
	var sess *osdp.Session
	var rx []byte
	buf := make([]byte, 512)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, _ := port.Read(buf)
		rx = append(rx, buf[:n]...)
		for {
			pkt, k, err := osdp.Frame(rx)
			rx = rx[k:]
			if errors.Is(err, osdp.ErrShort) {
				break
			}
			if err != nil {
				continue
			}
			raw := append([]byte(nil), pkt...)
			cmd, err := osdp.Decode(raw)
			if err != nil || cmd.Reply {
				continue
			}
			if cmd.Seq == 0 {
				sess = nil
			}
			secured := sess != nil && cmd.SCBType() >= osdp.SCS15
			if secured {
				if cmd, err = sess.OpenCommand(raw, cmd); err != nil {
					sess = nil
					out, _ := osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyNAK, Data: []byte{osdp.NAKSCCond}}, nil)
					_, _ = port.Write(out)
					continue
				}
			}
			reply, sent, forged := p.answer(cmd, &sess, key)
			var out []byte
			switch {
			case forged != nil:
				out = forged
			case secured && sess != nil:
				out, _ = sess.SealReply(reply)
			default:
				out, _ = osdp.Encode(reply, nil)
			}
			t0 := time.Now()
			_, _ = port.Write(out)
			if sent != nil {
				sent <- t0
			}
		}
	}
}

func (p *PD) answer(cmd osdp.Packet, sess **osdp.Session, key []byte) (osdp.Packet, chan<- time.Time, []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = append(p.cmds, cmd)
	reply := osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyACK}
	if reason, ok := p.nak[cmd.Code]; ok {
		reply.Code, reply.Data = osdp.ReplyNAK, []byte{reason}
		return reply, nil, nil
	}
	switch cmd.Code {
	case osdp.CmdID:
		reply.Code, reply.Data = osdp.ReplyPDID, []byte{0xCA, 0xFE, 0x00, 1, 1, 0x78, 0x56, 0x34, 0x12, 1, 0, 0}
	case osdp.CmdCap:
		reply.Code, reply.Data = osdp.ReplyPDCap, []byte{9, 1, 1}
	case osdp.CmdChlng:
		var rndA [8]byte
		copy(rndA[:], cmd.Data)
		rndB := [8]byte{8, 7, 6, 5, 4, 3, 2, 1}
		s, err := osdp.NewSession(key, rndA)
		if err != nil {
			reply.Code, reply.Data = osdp.ReplyNAK, []byte{osdp.NAKSCUnsup}
			return reply, nil, nil
		}
		*sess = s
		cc := s.ClientCryptogram(rndB)
		reply.Code, reply.SCB = osdp.ReplyCCrypt, []byte{3, osdp.SCS12, 1}
		reply.Data = append(append(make([]byte, 8), rndB[:]...), cc[:]...)
	case osdp.CmdSCrypt:
		if *sess == nil {
			reply.Code, reply.Data = osdp.ReplyNAK, []byte{osdp.NAKSCCond}
			return reply, nil, nil
		}
		rm := (*sess).InitialRMAC()
		(*sess).Activate(rm[:])
		reply.Code, reply.SCB, reply.Data = osdp.ReplyRMACI, []byte{3, osdp.SCS14, 1}, rm[:]
	case osdp.CmdPoll:
		if p.forge != nil {
			f := p.forge
			p.forge = nil
			return reply, nil, f(cmd, *sess)
		}
		if len(p.pending) > 0 {
			r, ch := p.pending[0], p.sent[0]
			p.pending, p.sent = p.pending[1:], p.sent[1:]
			reply.Code, reply.Data = r.Code, r.Data
			return reply, ch, nil
		}
	}
	return reply, nil, nil
}
