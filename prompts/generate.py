"""Build the system prompt sets (en, zh) and the music on hold.

    .venv/bin/python prompts/generate.py            # maintainers: re-render + manifest
    .venv/bin/python prompts/generate.py --install  # install time (`make prompts`)

Where each prompt comes from (the manifest's ``source`` says it per prompt):

* English in a human voice from Debian's ``asterisk-core-sounds-en-wav`` (Allison Smith's
  recordings for Asterisk, CC-BY-SA 3.0): every prompt of :func:`asterisk_en`. Numbers that
  Asterisk composes at run time (21 = "twenty" + "one") are joined here into one file per
  id, so the player's ids stay whole words; every file is trimmed of leading and trailing
  silence so that composed words flow. Asterisk has no Mandarin set (``apt-cache search
  asterisk-core-sounds``: en, es, fr, it, ru), so Chinese is all synthesised.
* Music on hold from ``asterisk-moh-opsound-wav`` (CC-BY-SA 3.0): :data:`MOH_TRACK`,
  trimmed of its closing silence and brought to about -20 dBFS RMS.
* Everything else with espeak-ng (``-v en-us``; Mandarin with ``-v cmn-latn-pinyin`` from
  tone-numbered pinyin, because the packaged cmn dictionary lacks most of the characters
  used here and would spell them in English) -> sox (trim leading/trailing silence,
  normalise, 8 kHz 16-bit mono WAV). The manifest keeps the Chinese text and the pinyin
  actually spoken.

Decision: the files taken from the Debian packages are converted at install time
(``--install``, run by ``make run``/``make test``/``make check``) into ``prompts/en`` and
``prompts/moh`` and are not committed (``prompts/.gitignore`` lists them, written here);
what espeak-ng renders is committed. Converting rather than reading
``/usr/share/asterisk`` at run time keeps one prompt directory with one file per id (a
copied ``prompts.directory`` works), and joins and trims once instead of per call.
``--install`` needs only Python and the two packages; the full run also needs espeak-ng
and sox and rewrites the manifest.

The ids are what ``media.player`` composes: ``num-0``..``num-99`` whole words, ``num-hundred``
/ ``num-thousand`` / ``num-million`` (en), ``num-bai`` / ``num-qian`` / ``num-wan`` /
``num-liang`` (zh), ordinals ``ord-*`` (en) and ``ord-prefix`` 第 (zh), and the phrases of
the queue flow (manual: queue-admin §2.5, §4 callback, §9 survey, §10 time-based routing)
and of the shipped config.example.yaml (welcome-sales, survey-satisfied,
christmas-greeting).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 8000

EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
           "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
           "seventeen", "eighteen", "nineteen"]
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
           "ninety"]
EN_ORD = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
          "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
          "sixteenth", "seventeenth", "eighteenth", "nineteenth"]
EN_ORD_TENS = ["", "", "twentieth", "thirtieth", "fortieth", "fiftieth", "sixtieth",
               "seventieth", "eightieth", "ninetieth"]
ZH_DIGITS = "零一二三四五六七八九"


def en_number(n: int) -> str:
    if n < 20:
        return EN_ONES[n]
    tens, ones = divmod(n, 10)
    return EN_TENS[tens] + (f"-{EN_ONES[ones]}" if ones else "")


ZH_PINYIN = ["ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3"]


def zh_number_pinyin(n: int) -> str:
    """Tone-numbered pinyin of 0..99 (十 is shi2; 一 in 十一 keeps tone 1)."""
    if n < 10:
        return ZH_PINYIN[n]
    tens, ones = divmod(n, 10)
    head = "shi2" if tens == 1 else f"{ZH_PINYIN[tens]} shi2"
    return head + (f" {ZH_PINYIN[ones]}" if ones else "")


def zh_number(n: int) -> str:
    if n < 10:
        return ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "十" if tens == 1 else ZH_DIGITS[tens] + "十"
    return head + (ZH_DIGITS[ones] if ones else "")


# Phrases: id -> (English, Chinese, Chinese as tone-numbered pinyin). The Chinese text is
# what the manifest shows; espeak-ng speaks the pinyin: its cmn dictionary lacks most
# characters used here and would spell them out in English. An English text of an id in
# asterisk_en() is what that recording says.
PHRASES: dict[str, tuple[str, str, str]] = {
    "welcome-sales": (
        "Thank you for calling our sales team. Please hold, and the next available sales "
        "representative will take your call.",
        "感谢致电销售部，请稍候，下一位空闲的销售顾问将为您服务。",
        "gan3 xie4 zhi4 dian4 xiao1 shou4 bu4, qing3 shao1 hou4, xia4 yi2 wei4 kong4 xian2 de5 "
        "xiao1 shou4 gu4 wen4 jiang1 wei4 nin2 fu2 wu4."),
    "welcome-to-queue": (
        "Thank you for calling. Please hold, and your call will be answered by the next "
        "available agent.",
        "感谢您的来电，请稍候，我们将尽快为您接通坐席。",
        "gan3 xie4 nin2 de5 lai2 dian4, qing3 shao1 hou4, wo3 men5 jiang1 jin3 kuai4 wei4 nin2 "
        "jie1 tong1 zuo4 xi2."),
    "all-agents-busy": (
        "All of our representatives are currently busy. Please stay on the line and your call "
        "will be answered by the next available representative.",
        "所有坐席正忙，请不要挂机，下一位空闲坐席将为您接听。",
        "suo3 you3 zuo4 xi2 zheng4 mang2, qing3 bu2 yao4 gua4 ji1, xia4 yi2 wei4 kong4 xian2 "
        "zuo4 xi2 jiang1 wei4 nin2 jie1 ting1."),
    "please-hold": (
        "Please hold while we try to connect you.",
        "请稍候，正在为您接通。",
        "qing3 shao1 hou4, zheng4 zai4 wei4 nin2 jie1 tong1."),
    "please-stay-on-the-line": (
        "Please stay on the line.",
        "请不要挂机。",
        "qing3 bu2 yao4 gua4 ji1."),
    "thank-you-for-patience": (
        "Thank you for your patience.",
        "感谢您的耐心等待。",
        "gan3 xie4 nin2 de5 nai4 xin1 deng3 dai4."),
    "there-are": (
        "There are currently",
        "您前面还有",
        "nin2 qian2 mian4 hai2 you3"),
    "callers-ahead-of-you": (
        "callers ahead of you.",
        "位来电者在等待。",
        "wei4 lai2 dian4 zhe3 zai4 deng3 dai4."),
    "there-is-one-caller-ahead": (
        "There is one caller ahead of you.",
        "您前面还有一位来电者在等待。",
        "nin2 qian2 mian4 hai2 you3 yi2 wei4 lai2 dian4 zhe3 zai4 deng3 dai4."),
    "no-callers-ahead": (
        "Your call is now first in line and will be answered by the next available "
        "representative.",
        "您已排在第一位，下一位空闲坐席将为您接听。",
        "nin2 yi3 pai2 zai4 di4 yi1 wei4, xia4 yi2 wei4 kong4 xian2 zuo4 xi2 jiang1 wei4 nin2 "
        "jie1 ting1."),
    "estimated-wait-time": (
        "The estimated hold time is currently",
        "您的预计等待时间约为",
        "nin2 de5 yu4 ji4 deng3 dai4 shi2 jian1 yue1 wei2"),
    "minute": (
        "minute",
        "分钟",
        "fen1 zhong1"),
    "minutes": (
        "minutes",
        "分钟",
        "fen1 zhong1"),
    "second": (
        "second",
        "秒",
        "miao3"),
    "seconds": (
        "seconds",
        "秒",
        "miao3"),
    "agent": (
        "Agent",
        "坐席",
        "zuo4 xi2"),
    "agent-id-prefix": (
        "Agent number",
        "工号",
        "gong1 hao4"),
    "agent-id-suffix": (
        "",
        "为您服务。",
        "wei4 nin2 fu2 wu4."),
    "queue-call-for-agent": (
        "Queue call.",
        "队列来电。",
        "dui4 lie4 lai2 dian4."),
    "press-1-for-callback": (
        "To request a callback instead of waiting, press 1.",
        "如需回拨，请按1。",
        "ru2 xu1 hui2 bo1, qing3 an4 yi1."),
    "callback-offer": (
        "To request a callback instead of waiting, press",
        "如需回拨，请按",
        "ru2 xu1 hui2 bo1, qing3 an4"),
    "callback-number-confirm-prefix": (
        "Your callback number is",
        "您的回拨号码是",
        "nin2 de5 hui2 bo1 hao4 ma3 shi4"),
    "press-1-to-confirm-or-2-to-change": (
        "Press 1 to confirm this number, or press 2 to enter another number.",
        "确认此号码请按1，输入其他号码请按2。",
        "que4 ren4 ci3 hao4 ma3 qing3 an4 yi1, shu1 ru4 qi2 ta1 hao4 ma3 qing3 an4 er4."),
    "enter-callback-number": (
        "Please enter your callback number, followed by the pound key.",
        "请输入您的回拨号码，以井号键结束。",
        "qing3 shu1 ru4 nin2 de5 hui2 bo1 hao4 ma3, yi3 jing3 hao4 jian4 jie2 shu4."),
    "callback-confirmed": (
        "Your callback has been confirmed. We will call you back as soon as an agent is "
        "available. Goodbye.",
        "您的回拨请求已确认，坐席空闲时我们将尽快给您回电。再见。",
        "nin2 de5 hui2 bo1 qing3 qiu2 yi3 que4 ren4, zuo4 xi2 kong4 xian2 shi2 wo3 men5 jiang1 "
        "jin3 kuai4 gei3 nin2 hui2 dian4. zai4 jian4."),
    "invalid-number": (
        "I'm sorry, that number is not valid.",
        "您输入的号码无效。",
        "nin2 shu1 ru4 de5 hao4 ma3 wu2 xiao4."),
    "invalid-entry": (
        "That option is invalid. Please try again.",
        "对不起，您的输入无效，请重试。",
        "dui4 bu5 qi3, nin2 de5 shu1 ru4 wu2 xiao4, qing3 chong2 shi4."),
    "survey-question": (
        "Are you satisfied with this service? Press 1 if satisfied, press 2 if not satisfied. "
        "Hang up to finish. Thank you.",
        "您对本次的服务是否满意？满意请按1，不满意请按2。结束请挂机。谢谢。",
        "nin2 dui4 ben3 ci4 de5 fu2 wu4 shi4 fou3 man3 yi4? man3 yi4 qing3 an4 yi1, bu4 man3 "
        "yi4 qing3 an4 er4. jie2 shu4 qing3 gua4 ji1. xie4 xie5."),
    "survey-rate-1-to-5": (
        "Please rate our service from 1 to 5, where 5 is excellent. Press a key from 1 to 5.",
        "请为本次服务评分，5分为非常满意，请按1到5键。",
        "qing3 wei4 ben3 ci4 fu2 wu4 ping2 fen1, wu3 fen1 wei2 fei1 chang2 man3 yi4, qing3 an4 "
        "yi1 dao4 wu3 jian4."),
    "survey-satisfied": (
        "Before you go: were you satisfied with our service today? Press 1 if you were "
        "satisfied, or press 2 if you were not.",
        "请您对本次服务进行评价：满意请按1，不满意请按2。",
        "qing3 nin2 dui4 ben3 ci4 fu2 wu4 jin4 xing2 ping2 jia4, man3 yi4 qing3 an4 yi1, bu4 "
        "man3 yi4 qing3 an4 er4."),
    "survey-thanks": (
        "Thank you for calling, goodbye.",
        "感谢您的来电，再见。",
        "gan3 xie4 nin2 de5 lai2 dian4, zai4 jian4."),
    "holiday-greeting": (
        "Thank you for calling. We are closed for the holiday. Please call again on our next "
        "business day.",
        "感谢您的来电，节假日期间暂停服务，请在工作日再来电。",
        "gan3 xie4 nin2 de5 lai2 dian4, jie2 jia4 ri4 qi1 jian1 zan4 ting2 fu2 wu4, qing3 zai4 "
        "gong1 zuo4 ri4 zai4 lai2 dian4."),
    "christmas-greeting": (
        "Merry Christmas, and thank you for calling. Our office is closed for the Christmas "
        "holidays. Please call again on our next business day.",
        "圣诞快乐，感谢您的来电。圣诞假期期间暂停服务，请在工作日再来电。",
        "sheng4 dan4 kuai4 le4, gan3 xie4 nin2 de5 lai2 dian4. sheng4 dan4 jia4 qi1 qi1 jian1 "
        "zan4 ting2 fu2 wu4, qing3 zai4 gong1 zuo4 ri4 zai4 lai2 dian4."),
    "outside-business-hours": (
        "Thank you for calling. You have reached us outside our business hours. Please call "
        "again during business hours.",
        "感谢您的来电，现在是非工作时间，请在工作时间内再来电。",
        "gan3 xie4 nin2 de5 lai2 dian4, xian4 zai4 shi4 fei1 gong1 zuo4 shi2 jian1, qing3 zai4 "
        "gong1 zuo4 shi2 jian1 nei4 zai4 lai2 dian4."),
    "no-agents-available": (
        "We are sorry, no agent is available to take your call right now.",
        "很抱歉，暂时没有可用的坐席接听您的来电。",
        "hen3 bao4 qian4, zan4 shi2 mei2 you3 ke3 yong4 de5 zuo4 xi2 jie1 ting1 nin2 de5 lai2 "
        "dian4."),
    "transferring": (
        "Please hold while I try that extension.",
        "正在为您转接，请稍候。",
        "zheng4 zai4 wei4 nin2 zhuan3 jie1, qing3 shao1 hou4."),
    "goodbye": (
        "Goodbye!",
        "再见。",
        "zai4 jian4."),
    # agent feature codes (queue-admin §6.7, softswitch.features.Prompt)
    "agent-signed-in": (
        "Agent logged in.",
        "坐席已签入。",
        "zuo4 xi2 yi3 qian1 ru4."),
    "agent-signed-out": (
        "Agent logged off.",
        "坐席已签出。",
        "zuo4 xi2 yi3 qian1 chu1."),
    "agent-paused": (
        "Agent paused.",
        "坐席已暂停。",
        "zuo4 xi2 yi3 zan4 ting2."),
    "agent-resumed": (
        "Agent resumed.",
        "坐席已恢复。",
        "zuo4 xi2 yi3 hui1 fu4."),
    "agent-not-signed-in": (
        "You are not signed in to this queue.",
        "您尚未签入该队列。",
        "nin2 shang4 wei4 qian1 ru4 gai1 dui4 lie4."),
    "feature-not-permitted": (
        "That feature is not available on this line.",
        "您无权使用此功能。",
        "nin2 wu2 quan2 shi3 yong4 ci3 gong1 neng2."),
    "feature-code-invalid": (
        "That feature code is not valid.",
        "特征码无效。",
        "te4 zheng1 ma3 wu2 xiao4."),
    "press": (
        "Press",
        "请按",
        "qing3 an4"),
    "pound": (
        "pound",
        "井号",
        "jing3 hao4"),
    "star": (
        "star",
        "星号",
        "xing1 hao4"),
    # voicemail (softswitch.apps.voicemail: leaving a message and the mailbox menu)
    "vm-the-person-at-extension": (
        "The person at extension",
        "您拨打的分机",
        "nin2 bo1 da3 de5 fen1 ji1"),
    "vm-is-unavailable": (
        "is unavailable.",
        "暂时无人接听。",
        "zan4 shi2 wu2 ren2 jie1 ting1."),
    "vm-leave-message-after-tone": (
        "Please leave your message after the tone. When done, hang up, or press the pound "
        "key.",
        "请在提示音后留言，留言完毕请挂机或按井号键。",
        "qing3 zai4 ti2 shi4 yin1 hou4 liu2 yan2, liu2 yan2 wan2 bi4 qing3 gua4 ji1 huo4 an4 "
        "jing3 hao4 jian4."),
    "vm-mailbox-full": (
        "Sorry, but the user's mailbox is full.",
        "抱歉，该用户的语音信箱已满。",
        "bao4 qian4, gai1 yong4 hu4 de5 yu3 yin1 xin4 xiang1 yi3 man3."),
    "vm-message-saved": (
        "Your message has been saved.",
        "您的留言已保存。",
        "nin2 de5 liu2 yan2 yi3 bao3 cun2."),
    "vm-no-message": (
        "No message was recorded.",
        "没有录到留言。",
        "mei2 you3 lu4 dao4 liu2 yan2."),
    "vm-enter-password": (
        "Please enter your voicemail password, followed by the pound key.",
        "请输入语音信箱密码，并以井号键结束。",
        "qing3 shu1 ru4 yu3 yin1 xin4 xiang1 mi4 ma3, bing4 yi3 jing3 hao4 jian4 jie2 shu4."),
    "vm-incorrect-password": (
        "The password is incorrect.",
        "密码错误。",
        "mi4 ma3 cuo4 wu4."),
    "vm-you-have": (
        "You have",
        "您有",
        "nin2 you3"),
    "vm-new-messages": (
        "new messages",
        "条新留言",
        "tiao2 xin1 liu2 yan2"),
    "vm-and": (
        "and",
        "和",
        "he2"),
    "vm-old-messages": (
        "old messages",
        "条旧留言",
        "tiao2 jiu4 liu2 yan2"),
    "vm-message": (
        "message",
        "留言",
        "liu2 yan2"),
    "vm-from": (
        "from",
        "来自",
        "lai2 zi4"),
    "vm-message-deleted": (
        "message deleted",
        "留言已删除",
        "liu2 yan2 yi3 shan1 chu2"),
    "vm-no-more-messages": (
        "no more messages",
        "没有更多留言",
        "mei2 you3 geng4 duo1 liu2 yan2"),
    "vm-first-message": (
        "first message",
        "这是第一条留言",
        "zhe4 shi4 di4 yi1 tiao2 liu2 yan2"),
    "vm-message-options": (
        "Press 5 to repeat the message, 4 for the previous message, 6 for the next message, "
        "7 to delete, 9 to save, or pound to exit.",
        "重听请按5，上一条请按4，下一条请按6，删除请按7，保存请按9，退出请按井号键。",
        "chong2 ting1 qing3 an4 wu3, shang4 yi4 tiao2 qing3 an4 si4, xia4 yi4 tiao2 qing3 an4 "
        "liu4, shan1 chu2 qing3 an4 qi1, bao3 cun2 qing3 an4 jiu3, tui4 chu1 qing3 an4 jing3 "
        "hao4 jian4."),
    # call flow day/night toggle (softswitch.apps.call_flow)
    "call-flow-night-mode": (
        "Night mode is on.",
        "夜间模式已开启。",
        "ye4 jian1 mo2 shi4 yi3 kai1 qi3."),
    "call-flow-schedule-mode": (
        "Night mode is off. Calls follow the schedule.",
        "夜间模式已关闭，来电按时间表处理。",
        "ye4 jian1 mo2 shi4 yi3 guan1 bi4, lai2 dian4 an4 shi2 jian1 biao3 chu3 li3."),
}




# --- the Debian packages ------------------------------------------------------------------

SOUNDS_PACKAGE = "asterisk-core-sounds-en-wav"
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MOH_PACKAGE = "asterisk-moh-opsound-wav"
MOH_DIR = Path("/usr/share/asterisk/moh")
MOH_TRACK = "macroform-cold_day"  # Paul Shuler (Macroform), 4 min, starts at full level
SOURCES: dict[str, dict[str, str]] = {
    SOUNDS_PACKAGE: {
        "directory": str(SOUNDS),
        "author": "Allison Smith (recorded for the Asterisk project, Digium, Inc.)",
        "licence": "CC-BY-SA-3.0",
        "changes": "trimmed of leading and trailing silence; numbers 21-99 and 'Agent "
                   "number' joined from two recordings"},
    MOH_PACKAGE: {
        "directory": str(MOH_DIR),
        "author": "Paul Shuler (Macroform), http://macroform.bandcamp.com/",
        "licence": "CC-BY-SA-3.0",
        "changes": "trimmed of its closing silence; level raised to about -20 dBFS RMS"},
    "espeak-ng": {
        "author": "synthesised by prompts/generate.py with espeak-ng and sox",
        "licence": "the project's own; no third-party recordings"},
}


def asterisk_en() -> dict[str, tuple[str, ...]]:
    """English prompt id -> the Asterisk core sounds (relative to :data:`SOUNDS`, no
    ``.wav``) spoken one after the other. The text of each id (``PHRASES``, the number
    words) is what these recordings say."""
    table: dict[str, tuple[str, ...]] = {}
    for n in range(100):
        tens, ones = divmod(n, 10)
        table[f"num-{n}"] = ((f"digits/{n}",) if n < 20 or ones == 0
                             else (f"digits/{tens * 10}", f"digits/{ones}"))
    for word in ("hundred", "thousand", "million"):
        table[f"num-{word}"] = (f"digits/{word}",)
        table[f"ord-{word}"] = (f"digits/h-{word}",)
    for n in [*range(1, 20), *range(20, 100, 10)]:
        table[f"ord-{n}"] = (f"digits/h-{n}",)
    table.update({
        "thank-you-for-patience": ("queue-thankyou",),
        "estimated-wait-time": ("queue-holdtime",),
        "no-callers-ahead": ("queue-youarenext",),
        "all-agents-busy": ("queue-periodic-announce",),
        "there-are": ("conf-thereare",),
        "minute": ("minute",), "minutes": ("minutes",),
        "second": ("second",), "seconds": ("seconds",),
        "agent": ("spy-agent",),
        "agent-id-prefix": ("spy-agent", "number"),
        "please-hold": ("pls-hold-while-try",),
        "transferring": ("transfer",),
        "invalid-number": ("privacy-incorrect",),
        "invalid-entry": ("pm-invalid-option",),
        "goodbye": ("goodbye",),
        "agent-signed-in": ("agent-loginok",),
        "agent-signed-out": ("agent-loggedoff",),
        "feature-not-permitted": ("feature-not-avail-line",),
        "press": ("vm-press",), "pound": ("digits/pound",), "star": ("digits/star",),
        "vm-the-person-at-extension": ("vm-theperson",),
        "vm-is-unavailable": ("vm-isunavail",),
        "vm-leave-message-after-tone": ("vm-intro",),
        "vm-mailbox-full": ("vm-mailboxfull",),
        "vm-message-saved": ("vm-msgsaved",),
        "vm-you-have": ("vm-youhave",),
        "vm-new-messages": ("vm-INBOX", "vm-messages"),
        "vm-and": ("vm-and",),
        "vm-old-messages": ("vm-Old", "vm-messages"),
        "vm-message": ("vm-message",),
        "vm-from": ("vm-from",),
        "vm-message-deleted": ("vm-message", "vm-deleted"),
        "vm-no-more-messages": ("vm-nomore",),
        "vm-first-message": ("vm-first", "vm-message"),
    })
    return table


def prompt_table() -> dict[str, dict[str, tuple[str, str]]]:
    """lang -> id -> (text, what espeak-ng is given), for every prompt the player composes."""
    en: dict[str, tuple[str, str]] = {}
    zh: dict[str, tuple[str, str]] = {}
    for n in range(100):
        en[f"num-{n}"] = (en_number(n), en_number(n))
        zh[f"num-{n}"] = (zh_number(n), zh_number_pinyin(n))
    for pid, word in (("num-hundred", "hundred"), ("num-thousand", "thousand"),
                      ("num-million", "million"), ("ord-hundred", "hundredth"),
                      ("ord-thousand", "thousandth"), ("ord-million", "millionth")):
        en[pid] = (word, word)
    zh.update({"num-bai": ("百", "bai3"), "num-qian": ("千", "qian1"),
               "num-wan": ("万", "wan4"), "num-liang": ("两", "liang3"),
               "ord-prefix": ("第", "di4")})
    for n in range(1, 20):
        en[f"ord-{n}"] = (EN_ORD[n], EN_ORD[n])
    for t in range(2, 10):
        en[f"ord-{t * 10}"] = (EN_ORD_TENS[t], EN_ORD_TENS[t])
    for pid, (e, z, pinyin) in PHRASES.items():
        if e:
            en[pid] = (e, e)
        if z:
            zh[pid] = (z, pinyin)
    return {"en": en, "zh": zh}


VOICES = {"en": ["-v", "en-us", "-s", "155"], "zh": ["-v", "cmn-latn-pinyin", "-s", "150"]}


def synthesize(text: str, lang: str, out: Path, tmp: Path) -> None:
    raw = tmp / "raw.wav"
    subprocess.run(["espeak-ng", *VOICES[lang], "-w", str(raw), text], check=True)
    # Trim silence at both ends (so composed numbers flow), normalise to -3 dBFS,
    # band-limit and resample to telephone format.
    subprocess.run(["sox", "-D", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out),
                    "silence", "1", "0.01", "0.3%", "reverse", "silence", "1", "0.01", "0.3%",
                    "reverse", "norm", "-3"], check=True)


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())



def read_pcm(path: Path) -> np.ndarray:
    """Samples of an 8 kHz 16-bit mono WAV (what both Debian packages ship)."""
    with wave.open(str(path), "rb") as w:
        shape = (w.getframerate(), w.getsampwidth(), w.getnchannels())
        if shape != (RATE, 2, 1):
            raise ValueError(f"{path}: expected 8000 Hz 16-bit mono, got {shape}")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()


def trim(samples: np.ndarray, threshold: float = 0.003, margin: float = 0.02) -> np.ndarray:
    """Cut the silence before the first and after the last sample louder than
    ``threshold`` (of full scale), keeping ``margin`` seconds so soft onsets stay."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold * 32768)
    if len(loud) == 0:
        return samples
    keep = int(margin * RATE)
    return samples[max(0, int(loud[0]) - keep):min(len(samples), int(loud[-1]) + 1 + keep)]


def recorded_prompt(sounds: tuple[str, ...]) -> np.ndarray:
    """One prompt joined from Asterisk core sounds, each trimmed."""
    return np.concatenate([trim(read_pcm(SOUNDS / f"{s}.wav")) for s in sounds])


def music_on_hold() -> np.ndarray:
    """The opsound track, its closing silence cut and its level raised to about -20 dBFS
    RMS (the recording sits near -26 dBFS, quiet next to the prompts), peaks below 30000."""
    x = trim(read_pcm(MOH_DIR / f"{MOH_TRACK}.wav"), margin=0.0).astype(np.float64)
    x *= (10 ** (-20 / 20) * 32767) / float(np.sqrt(np.mean(x ** 2)))
    peak = float(np.abs(x).max())
    if peak > 30000:
        x *= 30000 / peak
    return np.round(x).astype(np.int16)


def package_version(package: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def check_packages() -> str | None:
    """None when the Debian sound packages are installed, else what to do about it."""
    missing = [pkg for pkg, probe in ((SOUNDS_PACKAGE, SOUNDS / "digits" / "1.wav"),
                                      (MOH_PACKAGE, MOH_DIR / f"{MOH_TRACK}.wav"))
               if not probe.is_file()]
    if not missing:
        return None
    return (f"the Debian package(s) {' '.join(missing)} are not installed "
            f"(sudo apt-get install {' '.join(missing)}, or `make prompts`)")


def install() -> int:
    """Write the prompts and the music that come from the Debian packages (the files the
    manifest marks with their ``source`` package), skipping files already right."""
    problem = check_packages()
    if problem:
        print(f"generate.py: {problem}", file=sys.stderr)
        return 1
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    table = asterisk_en()
    written = 0
    for pid, entry in {**manifest["prompts"], **manifest["music"]}.items():
        source = entry.get("source")
        if source not in (SOUNDS_PACKAGE, MOH_PACKAGE):
            continue
        out = HERE / entry["file"]
        if out.is_file() and round(wav_duration(out), 3) == entry["duration"]:
            continue
        out.parent.mkdir(exist_ok=True)
        if source == MOH_PACKAGE:
            write_wav(out, music_on_hold())
        else:
            write_wav(out, recorded_prompt(table[pid.split("/", 1)[1]]))
        written += 1
        if round(wav_duration(out), 3) != entry["duration"]:
            print(f"generate.py: warning: {entry['file']} lasts {wav_duration(out):.3f} s, "
                  f"the manifest says {entry['duration']} s (another {source} version than "
                  f"{manifest['sources'][source].get('version')}?)", file=sys.stderr)
    print(f"installed {written} prompt file(s) from {SOUNDS_PACKAGE} and {MOH_PACKAGE} "
          f"into {HERE}")
    return 0


def write_gitignore(files: list[str]) -> None:
    lines = ["# Written by generate.py: the files converted at install time from the Debian",
             "# sound packages (generate.py --install); they are not part of the repository.",
             *(f"/{f}" for f in sorted(files))]
    (HERE / ".gitignore").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    """``--install``: only the files from the Debian packages. ``--only id,id``: re-render
    just those espeak-ng prompt ids, keep every other file and manifest entry as it is."""
    if "--install" in sys.argv[1:]:
        return install()
    only: set[str] | None = None
    if "--only" in sys.argv[1:]:
        i = sys.argv.index("--only")
        only = set(sys.argv[i + 1].split(",")) if i + 1 < len(sys.argv) else set()
        if not only:
            print("generate.py: --only needs a comma-separated list of prompt ids",
                  file=sys.stderr)
            return 2
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"generate.py: {tool} is not installed (apt-get install {tool})",
                  file=sys.stderr)
            return 1
    problem = check_packages()
    if problem:
        print(f"generate.py: {problem}", file=sys.stderr)
        return 1
    manifest: dict[str, dict[str, dict[str, object]]] = {"prompts": {}, "music": {},
                                                          "sources": {}}
    table = prompt_table()
    recorded = asterisk_en()
    if only is not None:
        unknown = only - {pid for prompts in table.values() for pid in prompts}
        if unknown:
            print(f"generate.py: unknown prompt id(s): {', '.join(sorted(unknown))}",
                  file=sys.stderr)
            return 2
        manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
        table = {lang: {k: v for k, v in prompts.items() if k in only}
                 for lang, prompts in table.items()}
    installed: list[str] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for lang, prompts in table.items():
            (HERE / lang).mkdir(exist_ok=True)
            for pid, (text, spoken) in sorted(prompts.items()):
                rel = f"{lang}/{pid}.wav"
                entry: dict[str, object] = {"file": rel, "text": text, "language": lang}
                if lang == "en" and pid in recorded:
                    write_wav(HERE / rel, recorded_prompt(recorded[pid]))
                    entry["source"] = SOUNDS_PACKAGE
                    entry["sounds"] = list(recorded[pid])
                    installed.append(rel)
                else:
                    synthesize(spoken, lang, HERE / rel, tmp)
                    entry["source"] = "espeak-ng"
                    if spoken != text:
                        entry["spoken"] = spoken  # what the synthesizer was given (pinyin)
                entry["duration"] = round(wav_duration(HERE / rel), 3)
                manifest["prompts"][f"{lang}/{pid}"] = entry
    if only is not None:
        (HERE / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
            encoding="utf-8")
        write_gitignore([str(e["file"]) for e in (*manifest["prompts"].values(),
                                                  *manifest["music"].values())
                         if e.get("source") in (SOUNDS_PACKAGE, MOH_PACKAGE)])
        print(f"wrote {sum(len(p) for p in table.values())} prompts to {HERE}")
        return 0
    (HERE / "moh").mkdir(exist_ok=True)
    write_wav(HERE / "moh" / "default.wav", music_on_hold())
    installed.append("moh/default.wav")
    manifest["music"]["moh/default"] = {
        "file": "moh/default.wav", "text": f"{MOH_TRACK} (asterisk-moh-opsound)",
        "language": "", "source": MOH_PACKAGE,
        "duration": round(wav_duration(HERE / "moh" / "default.wav"), 3)}
    for name, about in SOURCES.items():
        version = package_version(name)
        manifest["sources"][name] = {**about, **({"version": version} if version else {})}
    (HERE / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
        encoding="utf-8")
    write_gitignore(installed)
    print(f"wrote {len(manifest['prompts'])} prompts and {len(manifest['music'])} music "
          f"track(s) to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
