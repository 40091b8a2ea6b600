package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/gated-dev/gated/internal/api"
)

// notice renders the notice residents read before they consent, from the
// configuration, in Chinese ("zh", the default) or English ("en"). Its
// SHA-256 goes into every consent record, so the exact words a resident
// agreed to can be shown later.
func (d *daemon) notice(lang string) (api.Notice, error) {
	p := d.cfg.Privacy
	days := int(p.Retention.Duration / (24 * time.Hour))
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
`, p.NoticeVersion, d.cfg.Device.Name, p.Controller, p.Contact, days)
	case "en":
		text = fmt.Sprintf(`Face recognition notice (version %[1]s)

Gate: %[2]s
Who processes your face data: %[3]s (contact: %[4]s)

Purpose: only to open this gate for you.
Method: when you enroll, the gate's camera takes a few pictures of your face; this device turns them into face templates (numbers that describe your face) and keeps only those, encrypted, on this device. The pictures are not kept. When you come to the gate, the camera compares your face with the templates on this device. Nothing is sent over any network.
Retention: %[5]d days from your consent; then the templates are destroyed unless you consent again.
Your choice: face recognition is optional. You may refuse, or withdraw your consent at any time, and keep using your card and PIN as before. Withdraw at the gate (card and PIN) or at the property office; your face data is destroyed at once and you get a receipt number.
Children under 14: a parent or guardian must consent for them.
`, p.NoticeVersion, d.cfg.Device.Name, p.Controller, p.Contact, days)
	default:
		return api.Notice{}, fmt.Errorf("no notice in language %q: use zh or en", lang)
	}
	text = strings.ReplaceAll(text, "\r", "")
	sum := sha256.Sum256([]byte(text))
	return api.Notice{Version: p.NoticeVersion, Language: lang, Text: text, SHA256: hex.EncodeToString(sum[:])}, nil
}
