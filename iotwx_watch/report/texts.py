"""The words of notification messages, in each `language` the config accepts.

A message is read on a phone, often by someone who did not set iotwx-watch up, so it is
written whole in one language: Chinese for operators who work in the WeCom console
(its labels are Chinese), English otherwise. English advice is the health model's own
``Problem.action`` text (the same words `status` prints); the Chinese advice below says
the same things. WeCom's raw ``errmsg`` (hint ids, URLs) is never shown: a message gives
the errcode and its meaning from :data:`ERRCODE_MEANINGS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Language = Literal["zh-CN", "en"]

LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "deployment": "deployment", "suite": "suite", "corp": "corp", "code": "auth code",
        "deadline": "valid until", "error": "error", "action": "to do", "time": "time",
        "since": "since", "ip": "address", "where": "where", "log": "log", "agentid": "agentid",
        "state_param": "State", "attempts": "attempts", "test": "test",
    },
    "zh-CN": {
        "deployment": "部署", "suite": "套件", "corp": "企业", "code": "授权码",
        "deadline": "有效期至", "error": "错误", "action": "处理", "time": "时间",
        "since": "开始于", "ip": "地址", "where": "位置", "log": "日志", "agentid": "agentid",
        "state_param": "State", "attempts": "尝试次数", "test": "测试",
    },
}

SEVERITY_TAGS: Mapping[str, Mapping[str, str]] = {
    "en": {"critical": "CRITICAL", "warn": "WARNING", "ok": "RESOLVED", "info": "INFO"},
    "zh-CN": {"critical": "严重", "warn": "警告", "ok": "已恢复", "info": "通知"},
}

PLACES: Mapping[str, Mapping[str, str]] = {
    "en": {"app": "the app's trusted IPs", "provider": "the provider IP whitelist"},
    "zh-CN": {"app": "企业可信IP", "provider": "服务商IP白名单"},
}

# Titles of engine outcomes (events) and of conditions when they start, keyed by kind or
# problem code. Fields: {suite} {corp} {ip} {place} {key} {path} {age} {reason} {listen}.
TITLES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "corp_obtained": "New corp authorized: {corp}",
        "secret_reset": "App Secret reset: {corp}",
        "corp_cancelled": "Corp cancelled the authorization: {corp}",
        "ip_to_whitelist": "Whitelist {ip} in {place}",
        "egress_ip_changed": "Our egress IP changed: WeCom now sees {ip}",
        "auth_code_failed": "Auth code {key} failed",
        "auth_code_expired": "Auth code {key} expired unredeemed",
        "auth_code_interrupted": "Auth code {key} was interrupted while being redeemed",
        "auth_code_pending": "Auth code {key} waits to be redeemed",
        "auth_code_redeeming": "Auth code {key} is stuck being redeemed",
        "ticket_rejected": "WeCom rejected the suite_ticket of {suite}",
        "ticket_missing": "No suite_ticket yet for {suite}",
        "ticket_stale": "The suite_ticket of {suite} is {age} min old",
        "ticket_expired": "The suite_ticket of {suite} has expired ({age} min old)",
        "source_missing": "Log {path} does not exist",
        "source_unreadable": "iotwx-watch cannot read log {path}",
        "source_not_read": "Log {path} is not being read",
        "record_unrecognized": "A record iotwx-watch could not read: {path}",
        "cancel_unconfirmed": "A cancel_auth awaits WeCom's confirmation ({suite})",
        "source_stalled": "Callback log {path} has not grown for {age} min",
        "records": "Log records ignored as untrusted ({reason})",
        "metrics_unbound": "The metrics listener cannot bind {listen}",
        "state_unwritable": "iotwx-watch cannot write its state (disk or Redis)",
        "test": "Test message from iotwx-watch",
    },
    "zh-CN": {
        "corp_obtained": "新企业授权：{corp}",
        "secret_reset": "应用 Secret 已重置：{corp}",
        "corp_cancelled": "企业取消了授权：{corp}",
        "ip_to_whitelist": "{ip} 需加入{place}",
        "egress_ip_changed": "本机出口 IP 已变化，企业微信现在看到 {ip}",
        "auth_code_failed": "授权码 {key} 兑换失败",
        "auth_code_expired": "授权码 {key} 已过期，未能兑换",
        "auth_code_interrupted": "授权码 {key} 兑换时被中断",
        "auth_code_pending": "授权码 {key} 等待兑换",
        "auth_code_redeeming": "授权码 {key} 兑换卡住",
        "ticket_rejected": "企业微信拒绝了 {suite} 的 suite_ticket",
        "ticket_missing": "{suite} 尚未收到 suite_ticket",
        "ticket_stale": "{suite} 的 suite_ticket 已 {age} 分钟未更新",
        "ticket_expired": "{suite} 的 suite_ticket 已过期（{age} 分钟）",
        "source_missing": "日志 {path} 不存在",
        "source_unreadable": "iotwx-watch 无法读取日志 {path}",
        "source_not_read": "日志 {path} 未被读取",
        "record_unrecognized": "有一条回调记录无法识别：{path}",
        "cancel_unconfirmed": "取消授权尚待企业微信确认（{suite}）",
        "source_stalled": "回调日志 {path} 已 {age} 分钟没有新内容",
        "records": "已忽略不可信的日志记录（{reason}）",
        "metrics_unbound": "指标监听地址 {listen} 无法绑定",
        "state_unwritable": "iotwx-watch 无法写入状态（磁盘或 Redis）",
        "test": "iotwx-watch 测试消息",
    },
}

# Titles of the message that says a condition is over, keyed by the code's family.
CLEARED: Mapping[str, Mapping[str, str]] = {
    "en": {
        "ticket": "The suite_ticket of {suite} is fresh again",
        "source": "Log {path} is read again",
        "ip": "WeCom no longer refuses {ip} ({place})",
        "records": "No more untrusted records ({reason})",
        "metrics": "The metrics listener is bound to {listen} again",
        "state": "The state is written again; what waited in memory is saved",
        "other": "Cleared: {message}",
    },
    "zh-CN": {
        "ticket": "{suite} 的 suite_ticket 已恢复正常",
        "source": "日志 {path} 已恢复读取",
        "ip": "企业微信不再拒绝 {ip}（{place}）",
        "records": "不再有不可信的日志记录（{reason}）",
        "metrics": "指标监听已恢复：{listen}",
        "state": "状态已恢复写入，内存中暂存的内容已保存",
        "other": "已恢复：{message}",
    },
}

REMINDER: Mapping[str, str] = {"en": "Still open: ", "zh-CN": "仍未解决："}  # title prefix

WHITELIST_ZH = {
    "provider": "在 服务商管理后台 → 服务商信息 → 基本信息 → IP白名单 中添加；约一分钟后生效",
    "app": "在 代开发应用详情 → 企业可信IP 中添加，然后重新发布应用（代开发应用上线）；"
           "约一分钟后生效",
}
NEW_CODE_ZH = "在服务商后台的 代开发应用 页面点击「重新获取」，企业微信会推送新的授权码"
TICKET_ZH = "检查回调服务器；在模版的 回调配置 中点击「刷新Ticket」可立即推送一次"
RELOAD_ZH = "然后 systemctl reload iotwx-watch（定时器模式：下一次 once 自动生效）"

# Chinese advice per outcome kind or problem code ({suite} {deadline} {listen} {uid}).
ADVICE_ZH: Mapping[str, str] = {
    "corp_obtained": "Secret 已写入状态文件：iotwx-watch status --show-secrets",
    "secret_reset": "新 Secret 已写入状态文件，旧的已失效：iotwx-watch status --show-secrets",
    "corp_cancelled": "该企业的 Secret 已从状态文件中删除",
    "egress_ip_changed": WHITELIST_ZH["provider"],
    "auth_code_failed": NEW_CODE_ZH,
    "auth_code_expired": NEW_CODE_ZH,
    "auth_code_interrupted": "不确定企业微信是否已兑换该授权码，因此不会重发；" + NEW_CODE_ZH,
    "auth_code_redeeming": "如果 iotwx-watch 没有在运行：" + NEW_CODE_ZH,
    "ticket_rejected": TICKET_ZH,
    "ticket_missing": TICKET_ZH,
    "ticket_stale": TICKET_ZH,
    "ticket_expired": TICKET_ZH,
    "source_missing": "检查配置中的路径，以及写日志的程序是否在运行",
    "source_unreadable": "让服务用户（uid {uid}）能读取该日志及其所在目录（例如在 unit 的 "
                         "SupplementaryGroups= 中加入文件所属组），"
                         "然后 systemctl restart iotwx-watch",
    "source_not_read": "systemctl status iotwx-watch（定时器：systemctl list-timers "
                       "iotwx-watch-once）；用 journalctl -u iotwx-watch 查看停止原因",
    "source_stalled": TICKET_ZH,
    "record_unrecognized": "用 iotwx-watch parse --unmatched 查看该记录，为它的格式添加 "
                           "[[pattern]]，然后 systemctl reload iotwx-watch：重载后会重新读取它",
    "cancel_unconfirmed": "iotwx-watch 会再次向企业微信确认；在确认之前保留该企业的 Secret。"
                          "请确保企业微信可达且套件有可用的 suite_ticket",
    "records": "可能有人在伪造回调，或本机时钟有误；iotwx-watch status 给出详情",
    "metrics_unbound": "释放该端口或修改 [metrics] listen，然后 systemctl restart iotwx-watch；"
                       "在此之前每 30 秒重试一次，授权码兑换不受影响",
    "state_unwritable": "释放状态所在磁盘的空间，或恢复 Redis；iotwx-watch 继续读取日志并退避重试，"
                        "运行期间不丢失任何内容（在此期间不会向企业微信发送授权码）",
    "test": "收到这条消息说明通知配置正确，无需处理",
}

# What a pending auth code waits for, and the Chinese advice for it.
WAITING_ZH: Mapping[str, str] = {
    "config": "为套件 {suite} 配置正确的 suite_secret（凭据 {suite}.suite_secret 或配置中的 "
              "suite_secret_file），" + RELOAD_ZH,
    "ticket": "等待更新的 suite_ticket：" + TICKET_ZH,
    "ip": WHITELIST_ZH["provider"] + "；每 15 秒重试一次，直到 {deadline}",
    "network": "企业微信不可达：检查本机网络、DNS 和代理；重试至 {deadline}",
    "state": "状态文件无法写入：释放磁盘空间或修复状态目录；重试至 {deadline}",
    "": "iotwx-watch 会重试至 {deadline}，请保持服务运行",
}

TEST_ADVICE_EN = "this message shows the notification settings work; nothing to do"

# WeCom's errcodes reduced to what they mean (docs/wecom.md); the raw errmsg is not shown.
ERRCODE_MEANINGS: Mapping[int, tuple[str, str]] = {
    -1: ("WeCom is busy", "企业微信系统繁忙"),
    -1001: ("no answer from WeCom (network)", "企业微信无应答（网络）"),
    -1002: ("WeCom answered with an HTTP error", "企业微信返回 HTTP 错误"),
    -1003: ("WeCom's answer could not be read", "企业微信的应答无法解析"),
    40001: ("invalid secret", "secret 无效"),
    40013: ("invalid corpid", "corpid 无效"),
    40014: ("invalid access_token", "access_token 无效"),
    40078: ("the auth code was already used or has expired", "临时授权码已使用或已失效"),
    40080: ("wrong suite_secret", "suite_secret 错误"),
    40082: ("invalid suite_access_token", "suite_access_token 无效"),
    40083: ("invalid suite_id", "suite_id 无效"),
    40084: ("the corp's authorization is gone", "企业授权已失效"),
    40085: ("invalid suite_ticket (missing or expired)", "suite_ticket 无效（缺失或过期）"),
    42009: ("suite_access_token expired", "suite_access_token 已过期"),
    45009: ("API call rate limit", "接口调用超过频率限制"),
    45033: ("too many concurrent calls", "接口并发调用超过限制"),
    48003: ("suite_id does not match the token", "suite_id 与 token 不匹配"),
    48004: ("the authorization was cancelled", "授权已被取消"),
    60020: ("our IP address is not whitelisted", "访问 IP 不在白名单中"),
    93000: ("invalid robot webhook URL", "机器人 webhook 地址无效"),
}


def errcode_text(errcode: int | None, language: Language) -> str | None:
    """``40078 the auth code was already used…``: a code and its meaning, never the errmsg."""
    if errcode is None:
        return None
    meaning = ERRCODE_MEANINGS.get(errcode)
    if meaning is None:
        return f"errcode {errcode}"
    return f"{errcode} {meaning[0] if language == 'en' else meaning[1]}"
