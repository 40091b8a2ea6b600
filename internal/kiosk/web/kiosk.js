// The kiosk page only shows what the daemon says: the screen arrives as
// server-sent events; buttons send the same codes as the keypad.
"use strict";
const buttonsFor = {
  "idle": [["1", {zh: "登记人脸", en: "Enroll face"}], ["2", {zh: "撤回同意", en: "Withdraw"}], ["3", {zh: "访客通行码", en: "Visitor pass"}], ["9", {zh: "English", en: "中文"}]],
  // Agreeing and destroying take the resident's PIN on the keypad: the
  // screen offers only the way out.
  "notice": [["0", {zh: "我不同意", en: "I do not agree"}]],
  "optout-confirm": [["0", {zh: "取消", en: "Cancel"}]],
  "pass-choose": [["1", {zh: "一次", en: "One visit"}], ["2", {zh: "多次", en: "Several visits"}], ["0", {zh: "取消", en: "Cancel"}]],
  "pass-shown": [["0", {zh: "完成", en: "Done"}]],
};
const cancelable = ["pass-confirm", "enroll-card", "enroll-pin", "guardian-card", "guardian-pin", "capture", "optout-card", "optout-pin"];

function press(code) {
  fetch("/press", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({code})});
}

function show(s) {
  document.body.dataset.state = s.state;
  document.documentElement.lang = s.lang === "en" ? "en" : "zh-CN";
  document.getElementById("title").textContent = s.title || "";
  document.getElementById("body").textContent = s.body || "";
  document.getElementById("notice").textContent = s.notice || "";
  document.getElementById("keys").textContent = s.keys || "";
  document.getElementById("code").textContent = s.code || "";
  document.getElementById("digits").textContent = "●".repeat(s.digits || 0);
  document.getElementById("receipt").textContent = s.receipt || "";
  document.getElementById("progress").textContent = s.progress || "";
  showCamera(s);
  showPass(s);
  const nav = document.getElementById("buttons");
  nav.replaceChildren();
  let list = buttonsFor[s.state] || [];
  if (cancelable.includes(s.state)) list = [["0", {zh: "取消", en: "Cancel"}]];
  for (const [code, label] of list) {
    const b = document.createElement("button");
    b.textContent = label[s.lang] || label.zh;
    b.dataset.code = code;
    b.addEventListener("click", () => press(code));
    nav.append(b);
  }
  document.body.dataset.seq = String(s.seq);
}

// A visitor pass is shown once: its code, and its QR code (a PNG the daemon
// holds in memory only while this screen shows).
function showPass(s) {
  document.getElementById("pass").textContent = s.pass || "";
  const qr = document.getElementById("qr");
  if (s.qr) qr.src = "/pass.png?n=" + s.seq;
  else qr.removeAttribute("src");
  qr.hidden = !s.qr;
}

// While a face is captured the page polls the camera's latest picture (a
// small JPEG, kept only in memory by the daemon) about 8 times a second. The
// picture is flipped like a mirror, so "your left" is on the screen's left.
let live = false, polling = false, frameNo = 0;
function showCamera(s) {
  live = !!s.live;
  document.getElementById("camera").hidden = !live;
  const arrow = document.getElementById("arrow");
  arrow.dataset.turn = s.turn || "";
  arrow.textContent = s.turn === "left" ? "\u2190" : s.turn === "right" ? "\u2192" : "";
  if (live && !polling) {
    polling = true;
    nextFrame();
  }
  if (!live) document.getElementById("live").removeAttribute("src");
}
function nextFrame() {
  if (!live) {
    polling = false;
    return;
  }
  document.getElementById("live").src = "/frame?n=" + (frameNo++);
}
const img = document.getElementById("live");
img.addEventListener("load", () => setTimeout(nextFrame, 120));
img.addEventListener("error", () => setTimeout(nextFrame, 400));

const events = new EventSource("/events");
events.onmessage = (e) => show(JSON.parse(e.data));
