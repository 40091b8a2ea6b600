// Package notice renders the notice residents read before they consent to
// face recognition: who processes their face data, for what, how, for how
// long, and how to withdraw, in Chinese ("zh", the default) or English
// ("en"), from the gate's configuration.
//
// It owns the words and their hash: the SHA-256 of the exact text goes into
// every consent record, so what a resident agreed to can be shown later.
// It never stores anything and never sees face data.
package notice

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Facts are what the notice states, from the configuration.
type Facts struct {
	Gate       string        // device.name
	Controller string        // privacy.controller: who processes the data
	Contact    string        // privacy.contact
	Version    string        // privacy.notice_version
	Retention  time.Duration // privacy.retention
}

// Notice is one rendering of the notice.
type Notice struct {
	Version  string `json:"version"`
	Language string `json:"language"` // BCP 47: zh-CN or en
	Text     string `json:"text"`
	SHA256   string `json:"sha256"` // hex, of Text
}

// Render returns the notice in lang: "", "zh" or "zh-CN" for Chinese, "en"
// for English.
func Render(f Facts, lang string) (Notice, error) {
	days := int(f.Retention / (24 * time.Hour))
	var text string
	switch lang {
	case "", "zh", "zh-CN":
		lang = "zh-CN"
		text = fmt.Sprintf(`人脸识别告知书（%[1]s 版）

门禁：%[2]s
处理者：%[3]s（联系方式：%[4]s）

目的：仅用于为您开启本门禁。
方式：登记时，门禁摄像头拍摄您的几张人脸照片；本设备将其转换为人脸特征数据（描述人脸的数字），只保存这些数据，加密存放在本设备上，照片不保存。您来到门前时，摄像头把您的人脸与本设备上的数据比对。任何数据都不会通过网络发送。
保存期限：自您同意之日起 %[5]d 天；期满后销毁，除非您再次同意。
您的选择：人脸识别是可选的。您可以拒绝，也可以随时撤回同意，并继续使用门卡和密码正常通行。撤回可在门禁处（刷卡并输入密码）或物业办公室办理；您的人脸数据将立即销毁，并给您一个回执编号。
未满十四周岁的未成年人：须由其父母或其他监护人同意。
`, f.Version, f.Gate, f.Controller, f.Contact, days)
	case "en":
		text = fmt.Sprintf(`Face recognition notice (version %[1]s)

Gate: %[2]s
Who processes your face data: %[3]s (contact: %[4]s)

Purpose: only to open this gate for you.
Method: when you enroll, the gate's camera takes a few pictures of your face; this device turns them into face templates (numbers that describe your face) and keeps only those, encrypted, on this device. The pictures are not kept. When you come to the gate, the camera compares your face with the templates on this device. Nothing is sent over any network.
Retention: %[5]d days from your consent; then the templates are destroyed unless you consent again.
Your choice: face recognition is optional. You may refuse, or withdraw your consent at any time, and keep using your card and PIN as before. Withdraw at the gate (card and PIN) or at the property office; your face data is destroyed at once and you get a receipt number.
Children under 14: a parent or guardian must consent for them.
`, f.Version, f.Gate, f.Controller, f.Contact, days)
	default:
		return Notice{}, fmt.Errorf("notice: no notice in language %q: use zh or en", lang)
	}
	text = strings.ReplaceAll(text, "\r", "")
	sum := sha256.Sum256([]byte(text))
	return Notice{Version: f.Version, Language: lang, Text: text, SHA256: hex.EncodeToString(sum[:])}, nil
}
