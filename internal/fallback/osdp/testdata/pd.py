#!/usr/bin/env python3
"""An OSDP reader (peripheral device) for gated's interop test, built on
libosdp's PD role (PyPI libosdp). It is the independent peer our control
panel is tested against: the protocol code here is libosdp's, not ours.

Usage: pd.py --port PATH --address N (--scbk HEX | --install)

Reads commands from stdin, one per line:
  card BITS HEX      submit a card read, format Wiegand (osdp_RAW)
  rawcard BITS HEX   submit a card read, format unspecified (osdp_RAW)
  keys TEXT          submit key presses; '#' and '*' are sent as given,
                     'E' as 0x0D and 'C' as 0x7F (OSDP's codes)
  quit               stop
Writes to stdout, one per line, flushed:
  ready              the PD is running
  sc                 the secure channel became active
  nosc               the secure channel went down
  cmd NAME JSON      a command from the CP (LED, Buzzer, Keyset, ...)
"""
import argparse
import json
import os
import sys
import termios
import threading
import time
import tty

from osdp import (Capability, Channel, Command, CardFormat, Event, LibFlag,
                  LogLevel, PDCapabilities, PDInfo, PeripheralDevice)


class PtyChannel(Channel):
    def __init__(self, path):
        super().__init__()
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    def read(self, max_bytes):
        try:
            return os.read(self.fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError:
            return b""

    def write(self, buf):
        try:
            return os.write(self.fd, bytes(buf))
        except OSError:
            return 0

    def flush(self):
        pass


def out(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", required=True)
    ap.add_argument("--address", type=int, default=1)
    ap.add_argument("--scbk")
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--debug", action="store_true")
    a = ap.parse_args()

    flags = [LibFlag.InstallMode] if a.install else []
    if not a.install:
        flags.append(LibFlag.EnforceSecure)
    scbk = bytes.fromhex(a.scbk) if a.scbk else None
    info = PDInfo(a.address, PtyChannel(a.port), scbk=scbk, flags=flags)
    caps = PDCapabilities([
        (Capability.CommunicationSecurity, 1, 1),
        (Capability.LEDControl, 1, 1),
        (Capability.AudibleControl, 1, 1),
        (Capability.CardDataFormat, 1, 1),
        (Capability.Readers, 1, 1),
    ])

    names = {Command.LED: "led", Command.Buzzer: "buzzer", Command.Keyset: "keyset",
             Command.Output: "output", Command.Text: "text"}

    def on_command(cmd):
        c = dict(cmd)
        for k, v in list(c.items()):
            if isinstance(v, (bytes, bytearray)):
                c[k] = bytes(v).hex()
        out("cmd", names.get(cmd.get("command"), cmd.get("command")), json.dumps(c, sort_keys=True))
        return 0, None

    pd = PeripheralDevice(info, caps, log_level=LogLevel.Debug if a.debug else LogLevel.Error)
    pd.set_command_handler(on_command)
    pd.start()
    out("ready")

    stop = threading.Event()

    def watch():
        sc = False
        while not stop.is_set():
            now = pd.is_sc_active()
            if now != sc:
                out("sc" if now else "nosc")
                sc = now
            # drain the queue the wrapper also fills
            while pd.get_command(timeout=-1) is not None:
                pass
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()

    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] in ("card", "rawcard"):
            fmt = CardFormat.Wiegand if w[0] == "card" else CardFormat.Unspecified
            pd.submit_event({"event": Event.CardRead, "reader_no": 0, "format": fmt,
                             "direction": 0, "length": int(w[1]), "data": bytes.fromhex(w[2])})
        elif w[0] == "keys":
            text = line.split(None, 1)[1].rstrip("\n")
            data = bytes(0x0D if ch == "E" else 0x7F if ch == "C" else ord(ch) for ch in text)
            pd.submit_event({"event": Event.KeyPress, "reader_no": 0, "data": data})
        elif w[0] == "quit":
            break
    stop.set()
    pd.stop()


if __name__ == "__main__":
    main()
