package kiosk

import "fmt"

// texts holds every sentence the screen shows, in Chinese and English. Short
// sentences, one instruction each, for elderly residents.
var texts = map[string][2]string{
	// titles
	"t-idle":           {"欢迎", "Welcome"},
	"t-granted":        {"请通行", "Please enter"},
	"t-denied":         {"未能开门", "The door stays closed"},
	"t-enroll-card":    {"人脸登记", "Face enrollment"},
	"t-notice":         {"人脸识别告知书", "Face recognition notice"},
	"t-guardian-card":  {"监护人同意", "Guardian's consent"},
	"t-capture":        {"请看摄像头", "Look at the camera"},
	"t-enrolled":       {"登记完成", "Enrolled"},
	"t-declined":       {"您已拒绝", "You declined"},
	"t-optout-card":    {"撤回同意", "Withdraw consent"},
	"t-optout-confirm": {"撤回同意", "Withdraw consent"},
	"t-optout-done":    {"人脸数据已销毁", "Face data destroyed"},
	"t-optout-pending": {"人脸数据已停用，尚待从存储中清除", "Face data out of use: not yet wiped from storage"},
	"t-problem":        {"请重试", "Please try again"},
	// bodies
	"idle-keys":        {"刷卡开门后：1# 登记人脸　2# 撤回同意（删除人脸数据）　3# 访客通行码　9# English", "after your card opens the door: 1# enroll your face   2# withdraw (delete face data)   3# visitor pass   9# 中文"},
	"granted-keys":     {"1# 登记人脸　2# 撤回同意（删除人脸数据）　3# 访客通行码", "1# enroll your face   2# withdraw (delete face data)   3# visitor pass"},
	"enroll-first":     {"登记人脸：请先在这里照常刷卡开门，然后在 20 秒内按 1#。", "To enroll your face: first open the door here with your card as usual, then type 1# within 20 seconds."},
	"optout-first":     {"撤回同意：请先在这里照常刷卡开门，然后在 20 秒内按 2#。", "To withdraw: first open the door here with your card as usual, then type 2# within 20 seconds."},
	"idle":             {"请看摄像头，或刷卡并输入密码。", "Look at the camera, or use your card and PIN."},
	"idle-verify":      {"请刷卡，然后看摄像头或输入密码。", "Show your card, then look at the camera or enter your PIN."},
	"idle-off":         {"请刷卡并输入密码。", "Please use your card and PIN."},
	"welcome":          {"%s，欢迎回家。", "Welcome home, %s."},
	"face-unknown":     {"未识别到您的人脸。请刷卡并输入密码。", "Face not recognised. Please use your card and PIN."},
	"face-unconfirmed": {"人脸未能确认。请输入密码，按 # 确认。", "Face not confirmed. Enter your PIN and press #."},
	"face-off":         {"本门禁未使用人脸识别。请刷卡或输入密码。", "Face recognition is not in use at this gate. Please use your card or PIN."},
	"wrong-pin":        {"密码错误。请重新刷卡并输入密码。", "Wrong PIN. Show your card and try again."},
	"unknown-card":     {"此卡未登记。请联系物业。", "This card is not registered. Please ask the property office."},
	"locked-out":       {"密码错误次数过多，请稍后再试。", "Too many wrong PINs. Please wait and try again."},
	"denied":           {"无法开门。", "The door cannot open."},
	"enter-pin":        {"请输入密码，按 # 确认。", "Enter your PIN and press #."},
	"enter-pin-verify": {"请看摄像头，或输入密码按 # 确认。", "Look at the camera, or enter your PIN and press #."},
	"keys-pin":         {"数字 密码　* 清除　# 确认", "digits: PIN   * clear   # enter"},

	"keys-cancel": {"0# 取消", "0# cancel"},
	// the deciding steps: the card again, then the number and the PIN as one entry, and #
	"notice-keys":        {"同意：请再刷一次卡，然后连续输入 %s 和您的密码，按 #　0# 我不同意（不影响刷卡和密码开门）", "To agree: show your card again, then type %s followed by your PIN, and #   0# I do not agree (your card and PIN keep working)"},
	"notice-keys-card":   {"同意：请连续输入 %s 和您的密码，按 #　0# 我不同意", "To agree: now type %s followed by your PIN, and #   0# I do not agree"},
	"optout-keys":        {"确认销毁：请再刷一次卡，然后连续输入 %s 和您的密码，按 #　0# 取消", "To destroy it: show your card again, then type %s followed by your PIN, and #   0# cancel"},
	"optout-keys-card":   {"确认销毁：请连续输入 %s 和您的密码，按 #　0# 取消", "To destroy it: now type %s followed by your PIN, and #   0# cancel"},
	"guardian-card":      {"未满十四周岁：需要已登记的父母或监护人同意。", "Under 14: the registered parent or guardian must agree."},
	"guardian-keys":      {"监护人：请刷卡，然后连续输入 %s 和您的密码，按 #　0# 取消", "Parent or guardian: show your card, then type %s followed by your PIN, and #   0# cancel"},
	"guardian-keys-card": {"监护人：请连续输入 %s 和您的密码，按 #　0# 取消", "Parent or guardian: now type %s followed by your PIN, and #   0# cancel"},
	"no-guardian":        {"未满十四周岁：物业办公室尚未登记您的监护人，无法在此登记人脸。卡和密码照常使用。", "Under 14: the property office has not registered your parent or guardian, so your face cannot be enrolled here. Your card and PIN keep working."},
	"saving":             {"正在保存……", "Saving…"},
	"destroying":         {"正在销毁您的人脸数据……", "Destroying your face data…"},
	"look":               {"请正对摄像头，保持不动。", "Look straight at the camera and hold still."},
	"enrolled":           {"%s，您的人脸已登记。以后看摄像头即可开门。", "%s, your face is enrolled. Look at the camera to open the gate."},
	"enrolled-verify":    {"%s，您的人脸已登记。以后刷卡后看摄像头即可开门，无需输入密码。", "%s, your face is enrolled. Show your card and look at the camera: no PIN needed."},
	"enrolled-off":       {"%s，您的人脸已登记。本门禁确认人脸识别足够安全后即可使用；在此之前请刷卡并输入密码。", "%s, your face is enrolled. It will open this gate once face recognition is shown to be safe here; until then use your card and PIN."},
	"declined":           {"未保存任何人脸数据。您可以继续刷卡和密码开门。", "Nothing was stored. Your card and PIN keep working."},
	"optout-confirm":     {"您的人脸数据将被立即销毁。卡和密码照常使用。", "Your face data will be destroyed at once. Your card and PIN keep working."},
	"optout-done":        {"回执编号：%s。卡和密码照常使用。", "Receipt: %s. Your card and PIN keep working."},
	"optout-pending":     {"回执编号：%s。您的人脸已不能开门，但设备存储暂时无法完成清除，设备会自动重试，物业已收到提示。卡和密码照常使用。", "Receipt: %s. Your face no longer opens the door, but the device could not yet wipe it from its storage; it keeps retrying and the property office is told. Your card and PIN keep working."},
	"already":            {"您已登记人脸。如需删除，请在首页按 2#。", "Your face is already enrolled. To delete it, press 2# on the first screen."},
	"no-face":            {"您没有登记人脸数据，无需撤回。", "You have no face data to withdraw."},
	"not-identified":     {"卡和密码不符。", "Card and PIN do not match."},
	"not-guardian":       {"此卡不是已登记的监护人。请到物业办公室办理。", "This card is not the registered guardian's. Please come to the property office."},
	"turn-left":          {"请慢慢把头转向您的左边。", "Slowly turn your head to your left."},
	"turn-right":         {"请慢慢把头转向您的右边。", "Slowly turn your head to your right."},
	"progress":           {"拍照 %d/%d", "Picture %d of %d"},
	"progress-turn":      {"最后一步：转头", "Last step: turn your head"},
	"not-live":           {"未能确认是真人在镜头前：请到物业办公室办理。", "We could not confirm a live face: please ask the property office."},
	"no-challenge":       {"此门禁暂不能自助登记人脸：请到物业办公室办理。", "Face enrollment is not available at this screen: please ask the property office."},
	"capture-timeout":    {"没有拍到清晰的人脸。请重试。", "No clear picture of your face. Please try again."},
	"problem":            {"出了点问题，请重试或联系物业。", "Something went wrong. Try again or ask the property office."},
}

func (k *Kiosk) text(lang, key string, args ...any) string {
	t, ok := texts[key]
	if !ok {
		return key
	}
	s := t[0]
	if lang == "en" {
		s = t[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// render makes the screen for a state with its default texts.
func (k *Kiosk) render(st State, lang string) Screen {
	s := Screen{State: st, Lang: lang, Title: k.text(lang, "t-"+string(st))}
	cancel := k.text(lang, "keys-cancel")
	switch st {
	case Idle:
		s.Body, s.Keys = k.text(lang, modeKey("idle", k.mode)), k.text(lang, "idle-keys")
	case EnrollCard:
		s.Body = k.text(lang, "enroll-first")
	case OptOutCard:
		s.Body = k.text(lang, "optout-first")
	case GuardianCard:
		s.Body, s.Keys = k.text(lang, "guardian-card"), k.text(lang, "guardian-keys", "…")
	case ReadNotice:
		s.Keys = k.text(lang, "notice-keys", "…")
	case Capture:
		s.Body, s.Keys = k.text(lang, "look"), cancel
	case Declined:
		s.Body = k.text(lang, "declined")
	case OptOutConfirm:
		s.Body, s.Keys = k.text(lang, "optout-confirm"), k.text(lang, "optout-keys", "…")
	}
	return s
}
