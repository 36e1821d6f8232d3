#!/usr/bin/env python3
"""Generates the tokenizer test corpus, tests/data/tokenizer/corpus/*.txt.

The text is synthesised from the small word lists and templates in this file, mixed by a
fixed-seed PRNG, so the corpus is reproducible byte for byte from the script alone and holds
no third-party prose or code. Each file stresses one part of the o200k pre-tokenizer and BPE
(a script, digits, whitespace, emoji, ...); tools/make_tokenizer_goldens.py turns the files
into the ids tiktoken gives.

Only the standard library is used, and nothing here depends on the interpreter's Unicode
tables (unicodedata) or on hash ordering, so every Python 3 writes the same bytes.

    python3 tools/make_tokenizer_corpus.py [--out tests/data/tokenizer/corpus] [--seed N]
"""

import argparse
import os
import random
import sys
import zlib

DEFAULT_OUT = os.path.join("tests", "data", "tokenizer", "corpus")
DEFAULT_SEED = 20250805

# Approximate size of each file in UTF-8 bytes; the sum stays above the 220 KB the corpus
# promises. Generators stop at the first paragraph that reaches their target.
TARGETS = {
    "english.txt": 24000,
    "chinese.txt": 18000,
    "japanese.txt": 18000,
    "korean.txt": 16000,
    "arabic.txt": 16000,
    "hindi.txt": 16000,
    "russian.txt": 18000,
    "emoji.txt": 14000,
    "code.txt": 26000,
    "numbers.txt": 14000,
    "whitespace.txt": 14000,
    "random_unicode.txt": 16000,
    "mixed.txt": 20000,
    "edge_cases.txt": 16000,
    "unicode_versions.txt": 6000,
}


def nbytes(s):
    return len(s.encode("utf-8"))


def pick(rng, seq):
    return seq[rng.randrange(len(seq))]


def fill(rng, target, make_block, sep="\n\n"):
    """Joins blocks from make_block(rng) until the text holds at least `target` bytes."""
    parts = []
    size = 0
    while size < target:
        block = make_block(rng)
        parts.append(block)
        size += nbytes(block) + len(sep)
    return sep.join(parts) + "\n"


def cap(s):
    return s[:1].upper() + s[1:]


# ---------------------------------------------------------------------------------------------
# English

EN_SUBJECTS = [
    "the engineer", "a small team", "our compiler", "the old library", "my neighbour",
    "every student", "the weather service", "this function", "the committee", "a curious cat",
    "the night shift", "her younger brother", "the city council", "an anonymous reviewer",
    "the build server", "a tired musician", "the river", "their landlord", "the new intern",
    "the museum guide", "a pair of foxes", "the orchestra", "my grandmother", "the parser",
    "the scheduler", "an old sailor", "the bakery on the corner", "two volunteers",
]
EN_VERBS = [
    "rewrote", "measured", "ignored", "repaired", "painted", "counted", "borrowed", "described",
    "rejected", "carried", "forgot", "tested", "explained", "delivered", "questioned",
    "optimized", "folded", "translated", "photographed", "cancelled", "rebuilt", "tuned",
    "sorted", "misplaced", "celebrated", "compressed", "watered", "announced",
]
EN_VERBS_BASE = [
    "rewrite", "measure", "ignore", "repair", "paint", "count", "borrow", "describe", "reject",
    "carry", "forget", "test", "explain", "deliver", "fold", "translate", "rebuild", "sort",
]
EN_OBJECTS = [
    "the quarterly report", "a wooden chair", "every broken link", "the spare key",
    "three hundred envelopes", "the garden fence", "a long list of errors", "the main staircase",
    "its own documentation", "the winter schedule", "a jar of honey", "the lighthouse lamp",
    "the test suite", "an unfinished novel", "the kitchen clock", "a map of the harbour",
    "the memory allocator", "seven paper lanterns", "the school bus", "a crate of apples",
    "the release notes", "the tallest ladder", "a stubborn bug", "the village bell",
]
EN_PLACES = [
    "in the basement", "behind the station", "near the old mill", "at the edge of town",
    "on the third floor", "under a grey sky", "across the valley", "inside the workshop",
    "beside the canal", "at the airport", "in a quiet office", "on the ferry",
]
EN_TIMES = [
    "yesterday", "last winter", "before dawn", "every Tuesday", "after lunch", "in 1987",
    "this morning", "at midnight", "twice a year", "on Sunday evening", "long ago", "again",
]
EN_ADVERBS = [
    "carefully", "quickly", "reluctantly", "quietly", "twice", "eventually", "almost",
    "proudly", "barely", "suddenly", "happily", "precisely",
]
EN_ADJECTIVES = [
    "strange", "bright", "heavy", "fragile", "ordinary", "enormous", "tiny", "noisy", "clever",
    "ancient", "modern", "gentle", "bitter", "golden", "hollow", "crooked",
]
EN_NOUNS = [
    "idea", "bridge", "window", "theory", "basket", "kernel", "garden", "engine", "letter",
    "mountain", "question", "pattern", "ticket", "shadow", "pocket", "harbour", "token",
    "thread", "signal", "blanket",
]
EN_NAMES = [
    "Alice", "Bram", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonah",
    "Kemal", "Lena", "Mateo", "Nadia", "Olu", "Priya", "Quentin", "Rosa", "Sven", "Tamsin",
]
EN_CONTRACTIONS = [
    "I'm", "you're", "we've", "they'll", "she'd", "it's", "don't", "can't", "won't", "isn't",
    "Let's", "wasn't", "shouldn't", "we'd", "you'll", "he's", "they're", "I've", "o'clock",
    "rock'n'roll", "y'all", "ma'am",
]


def en_sentence(rng):
    kind = rng.randrange(12)
    s, v, o = pick(rng, EN_SUBJECTS), pick(rng, EN_VERBS), pick(rng, EN_OBJECTS)
    if kind == 0:
        text = f"{cap(s)} {v} {o} {pick(rng, EN_PLACES)} {pick(rng, EN_TIMES)}."
    elif kind == 1:
        text = f"Why {pick(rng, ['did', 'would', 'could'])} {s} {pick(rng, EN_VERBS_BASE)} {o}?"
    elif kind == 2:
        name = pick(rng, EN_NAMES)
        text = (f"\u201c{pick(rng, EN_CONTRACTIONS).capitalize()} not sure,\u201d said {name}, "
                f"\u201cbut {pick(rng, EN_CONTRACTIONS)} worth a try.\u201d")
    elif kind == 3:
        text = (f"{pick(rng, EN_NAMES)}'s {pick(rng, EN_ADJECTIVES)} {pick(rng, EN_NOUNS)} "
                f"{pick(rng, ['was', 'seemed', 'looked'])} {pick(rng, EN_ADVERBS)} "
                f"{pick(rng, EN_ADJECTIVES)}; nobody {pick(rng, ['knew', 'asked', 'cared'])} why.")
    elif kind == 4:
        text = (f"{cap(s)} {pick(rng, EN_ADVERBS)} {v} {o} \u2014 "
                f"{pick(rng, ['then', 'and then', 'but'])} {pick(rng, EN_CONTRACTIONS)} "
                f"{pick(rng, ['over', 'done', 'fine', 'late', 'enough'])}\u2026")
    elif kind == 5:
        n = rng.randrange(2, 400)
        text = (f"It took {n} {pick(rng, ['minutes', 'attempts', 'pages', 'days'])} "
                f"({rng.randrange(1, 100)}% of the budget, about ${rng.randrange(1, 999)}."
                f"{rng.randrange(100):02d}) to finish.")
    elif kind == 6:
        text = f"{s.upper()} {v.upper()} {o.upper()}! {pick(rng, EN_CONTRACTIONS).upper()} IT?"
    elif kind == 7:
        words = [pick(rng, EN_ADJECTIVES), pick(rng, EN_NOUNS), pick(rng, EN_NOUNS)]
        text = " ".join(w.capitalize() for w in words) + ": " + f"{cap(o)} {pick(rng, EN_PLACES)}."
    elif kind == 8:
        a, b = pick(rng, EN_NOUNS), pick(rng, EN_NOUNS)
        text = (f"See https://example.com/{a}/{b}?id={rng.randrange(10**6)}&lang=en or write to "
                f"{pick(rng, EN_NAMES).lower()}.{a}@example.org (subject: \"{b}\").")
    elif kind == 9:
        a = pick(rng, EN_NOUNS)
        text = (f"The {a}Manager calls get{cap(pick(rng, EN_NOUNS))}() and "
                f"{pick(rng, EN_NOUNS)}_{pick(rng, EN_NOUNS)}_count, not {a.upper()}_MAX.")
    elif kind == 10:
        text = (f"{cap(pick(rng, EN_CONTRACTIONS))} {pick(rng, EN_ADVERBS)} "
                f"{pick(rng, EN_ADJECTIVES)}, isn't it? '{pick(rng, EN_NOUNS)}' -- "
                f"said the {pick(rng, EN_NOUNS)}'s owner.")
    else:
        text = (f"{cap(s)}, {pick(rng, EN_PLACES)}, {v} {o}; {pick(rng, EN_SUBJECTS)} "
                f"{pick(rng, EN_VERBS)} {pick(rng, EN_OBJECTS)} {pick(rng, EN_TIMES)}.")
    return text


def en_paragraph(rng):
    style = rng.randrange(10)
    if style == 0:
        head = " ".join(w.capitalize() for w in (pick(rng, EN_ADJECTIVES), pick(rng, EN_NOUNS)))
        return "#" * rng.randrange(1, 4) + " " + head
    if style == 1:
        items = []
        for i in range(rng.randrange(2, 6)):
            bullet = pick(rng, ["- ", "* ", f"{i + 1}. ", f"{i + 1}) "])
            items.append(bullet + en_sentence(rng))
        return "\n".join(items)
    sentences = [en_sentence(rng) for _ in range(rng.randrange(2, 7))]
    return " ".join(sentences)


def gen_english(rng, target):
    return fill(rng, target, en_paragraph)


# ---------------------------------------------------------------------------------------------
# Chinese

ZH_SUBJECTS = ["我", "我们", "他", "她", "老师", "学生们", "这个程序", "我的朋友", "那位医生",
               "小王", "公司", "研究人员", "邻居家的孩子", "这台电脑", "大家", "奶奶"]
ZH_TIMES = ["今天", "昨天", "明天", "上个月", "去年夏天", "每天早上", "晚上", "周末",
            "刚才", "三年前", "下午两点", "春节期间"]
ZH_PLACES = ["在图书馆", "在北京", "在家里", "在公园里", "在办公室", "在火车上", "在厨房",
             "在山上", "在实验室", "在上海的街头", "在河边"]
ZH_VERBS = ["学习", "写", "读", "修改", "测试", "讨论", "喝", "买", "做", "看", "研究",
            "整理", "翻译", "画", "唱", "打扫"]
ZH_OBJECTS = ["中文", "一封信", "这本书", "代码", "新的算法", "一杯茶", "水果", "晚饭",
              "电影", "语言模型", "数据", "房间", "一首歌", "地图", "问题", "报告"]
ZH_ADJ = ["很好", "非常有意思", "有点难", "特别安静", "太贵了", "挺方便的", "十分复杂",
          "真漂亮", "不太清楚", "越来越快"]
ZH_CONNECT = ["因为", "所以", "但是", "而且", "如果", "虽然", "然后", "不过"]
ZH_EXTRA = ["GPU", "AI", "Python", "Linux", "API", "CPU", "C语言", "Wi-Fi", "USB", "HTTP"]


def zh_sentence(rng):
    kind = rng.randrange(7)
    s, t, p = pick(rng, ZH_SUBJECTS), pick(rng, ZH_TIMES), pick(rng, ZH_PLACES)
    v, o = pick(rng, ZH_VERBS), pick(rng, ZH_OBJECTS)
    if kind == 0:
        return f"{s}{t}{p}{v}{o}。"
    if kind == 1:
        return f"{pick(rng, ZH_CONNECT)}{o}{pick(rng, ZH_ADJ)}，{s}{pick(rng, ['决定', '打算', '想'])}{v}。"
    if kind == 2:
        return f"{s}问：“{o}{pick(rng, ZH_ADJ)}吗？”"
    if kind == 3:
        return f"{t}，{s}用{pick(rng, ZH_EXTRA)}{v}了{rng.randrange(2, 99)}个{o}！"
    if kind == 4:
        year = rng.randrange(1990, 2031)
        return f"{year}年{rng.randrange(1, 13)}月{rng.randrange(1, 29)}日，{s}{v}了《{o}》。"
    if kind == 5:
        items = "、".join(pick(rng, ZH_OBJECTS) for _ in range(rng.randrange(2, 5)))
        return f"{s}需要：{items}；{pick(rng, ZH_CONNECT)}{pick(rng, ZH_ADJ)}。"
    return f"（{pick(rng, ['注', '附', '按'])}：{o}{pick(rng, ZH_ADJ)}……）"


def gen_chinese(rng, target):
    def para(r):
        return "".join(zh_sentence(r) for _ in range(r.randrange(2, 8)))
    return fill(rng, target, para, sep="\n")


# ---------------------------------------------------------------------------------------------
# Japanese (hiragana, katakana, kanji, the Lm long-vowel mark, half- and full-width forms)

JA_SUBJECTS = ["私", "彼女", "先生", "学生たち", "猫", "このプログラム", "田中さん", "友達",
               "母", "エンジニア", "子どもたち", "部長"]
JA_TOPICS = ["は", "が", "も"]
JA_OBJECTS = ["コーヒー", "ラーメン", "手紙", "新しい本", "コンピューター", "ソフトウェア",
              "宿題", "写真", "日本語", "地図", "お弁当", "メール", "データベース", "天ぷら"]
JA_PLACES = ["東京で", "駅の前で", "図書館で", "家で", "会社で", "京都の公園で", "電車の中で",
             "海の近くで", "大学で", "コンビニで"]
JA_TIMES = ["今日", "昨日", "明日", "毎朝", "週末に", "去年", "夜遅く", "午後三時に", "先週"]
JA_VERBS = ["を飲みました", "を食べます", "を書いています", "を読んだ", "を直しました",
            "を探しています", "を撮りました", "を勉強します", "を送った", "を作っている"]
JA_ADJ = ["とても静かです", "少し難しいです", "本当に便利だ", "すごく高かった",
          "なかなか面白い", "ちょっと寒いね", "意外と簡単でした"]
JA_HALFWIDTH = ["ｺﾝﾋﾟｭｰﾀ", "ﾃｽﾄ", "ｶﾀｶﾅ", "ﾃﾞｰﾀ", "ｳｪﾌﾞ"]
JA_FULLWIDTH = ["ＡＢＣ", "１２３", "ＧＰＵ", "Ｐｙｔｈｏｎ", "ｘ＝１"]


def ja_sentence(rng):
    kind = rng.randrange(6)
    s = pick(rng, JA_SUBJECTS) + pick(rng, JA_TOPICS)
    if kind == 0:
        return f"{s}{pick(rng, JA_TIMES)}、{pick(rng, JA_PLACES)}{pick(rng, JA_OBJECTS)}{pick(rng, JA_VERBS)}。"
    if kind == 1:
        return f"「{pick(rng, JA_OBJECTS)}は{pick(rng, JA_ADJ)}」と{s}言いました。"
    if kind == 2:
        return f"{pick(rng, JA_OBJECTS)}・{pick(rng, JA_OBJECTS)}・{pick(rng, JA_OBJECTS)}の中で、どれが一番好きですか？"
    if kind == 3:
        return f"{pick(rng, JA_HALFWIDTH)}と{pick(rng, JA_FULLWIDTH)}の{pick(rng, JA_OBJECTS)}ー！"
    if kind == 4:
        return f"{rng.randrange(1, 13)}月{rng.randrange(1, 31)}日（{pick(rng, '月火水木金土日')}）、{s}『{pick(rng, JA_OBJECTS)}』{pick(rng, JA_VERBS)}。"
    return f"{s}{pick(rng, JA_ADJ)}よね～　ありがとうございますー。"


def gen_japanese(rng, target):
    def para(r):
        return "".join(ja_sentence(r) for _ in range(r.randrange(2, 7)))
    return fill(rng, target, para, sep="\n")


# ---------------------------------------------------------------------------------------------
# Korean (Hangul syllables with spaces, some compatibility jamo and Hanja)

KO_SUBJECTS = ["나는", "우리는", "선생님은", "학생들이", "제 친구가", "고양이가", "어머니는",
               "개발자들은", "그 회사는", "동생이"]
KO_OBJECTS = ["책을", "커피를", "코드를", "음악을", "편지를", "김치찌개를", "사진을", "숙제를",
              "영화를", "새 컴퓨터를", "한국어를", "지도를"]
KO_PLACES = ["도서관에서", "서울에서", "집에서", "회사에서", "카페에서", "바닷가에서",
             "부산역 앞에서", "학교에서", "지하철에서"]
KO_TIMES = ["오늘", "어제", "내일", "주말에", "아침마다", "작년에", "밤늦게", "오후 세 시에"]
KO_VERBS = ["읽었습니다", "마셨어요", "작성했다", "들어요", "보냈습니다", "먹었어요",
            "찍었다", "공부합니다", "봤어요", "샀습니다", "배우고 있어요"]
KO_ADJ = ["정말 좋아요", "조금 어렵네요", "아주 조용했다", "너무 비싸요", "생각보다 쉬웠어요",
          "꽤 재미있습니다"]
KO_EXTRA = ["ㅋㅋㅋ", "ㅠㅠ", "ㅎㅎ", "大韓民國", "漢字", "ㄱㄴㄷ"]


def ko_sentence(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return f"{pick(rng, KO_SUBJECTS)} {pick(rng, KO_TIMES)} {pick(rng, KO_PLACES)} {pick(rng, KO_OBJECTS)} {pick(rng, KO_VERBS)}."
    if kind == 1:
        return f"\"{pick(rng, KO_OBJECTS)[:-1]}는 {pick(rng, KO_ADJ)}\"라고 {pick(rng, KO_SUBJECTS)} 말했다."
    if kind == 2:
        return f"{pick(rng, ['오늘은', '어제는', '이번 주말은', '그 영화는'])} {pick(rng, KO_ADJ)} {pick(rng, KO_EXTRA)}"
    if kind == 3:
        return f"{rng.randrange(1, 13)}월 {rng.randrange(1, 31)}일, {pick(rng, KO_SUBJECTS)} {pick(rng, KO_OBJECTS)} {pick(rng, KO_VERBS)}!"
    return f"{pick(rng, KO_SUBJECTS)} 왜 {pick(rng, KO_OBJECTS)} {pick(rng, KO_VERBS)}?"


def gen_korean(rng, target):
    def para(r):
        return " ".join(ko_sentence(r) for _ in range(r.randrange(2, 7)))
    return fill(rng, target, para, sep="\n")


# ---------------------------------------------------------------------------------------------
# Arabic (with optional harakat, tatweel, Arabic-Indic digits, bidi marks, some Persian)

AR_SUBJECTS = ["الطالب", "المعلمة", "الفريق", "صديقي", "المهندس", "الأطفال", "جدتي", "المدير",
               "الباحثون", "هذا البرنامج"]
AR_VERBS = ["كتب", "قرأ", "يدرس", "ذهب إلى", "يحب", "أصلح", "اشترى", "شرح", "نسي", "رسم"]
AR_OBJECTS = ["الكتاب", "الرسالة", "البرنامج", "القهوة", "الدرس", "الخريطة", "السيارة",
              "التقرير", "الحديقة", "القصيدة", "الشبكة"]
AR_PLACES = ["في المدينة", "في المكتبة", "في البيت", "في الجامعة", "عند البحر", "في السوق",
             "على السطح"]
AR_TIMES = ["اليوم", "أمس", "غدا", "في الصباح", "في المساء", "منذ سنة", "كل يوم"]
AR_ADJ = ["جميل جدا", "صعب قليلا", "كبير", "جديد", "هادئ", "رائع"]
FA_WORDS = ["کتاب", "می‌خواهم", "زندگی", "گلستان", "پنجره", "چای"]
AR_HARAKAT = ["\u064e", "\u064f", "\u0650", "\u0651", "\u0652", "\u064b", "\u064c", "\u064d"]
AR_DIGITS = "٠١٢٣٤٥٦٧٨٩"
FA_DIGITS = "۰۱۲۳۴۵۶۷۸۹"


def ar_diacritize(rng, word):
    out = []
    for ch in word:
        out.append(ch)
        if ch != " " and rng.random() < 0.5:
            out.append(pick(rng, AR_HARAKAT))
    return "".join(out)


def ar_number(rng, digits):
    return "".join(pick(rng, digits) for _ in range(rng.randrange(1, 6)))


def ar_sentence(rng):
    kind = rng.randrange(7)
    s, v, o = pick(rng, AR_SUBJECTS), pick(rng, AR_VERBS), pick(rng, AR_OBJECTS)
    if kind == 0:
        return f"{s} {v} {o} {pick(rng, AR_PLACES)} {pick(rng, AR_TIMES)}."
    if kind == 1:
        return f"هل {v} {s} {o}؟"
    if kind == 2:
        return f"{ar_diacritize(rng, s)} {ar_diacritize(rng, v)} {ar_diacritize(rng, o)}."
    if kind == 3:
        return f"{o} {pick(rng, AR_ADJ)}، {pick(rng, ['لكن', 'و', 'ثم'])} {s} {v} {ar_number(rng, AR_DIGITS)} مرة؛"
    if kind == 4:
        return f"{pick(rng, FA_WORDS)} {pick(rng, FA_WORDS)} {ar_number(rng, FA_DIGITS)} \u200f({pick(rng, FA_WORDS)})"
    if kind == 5:
        return f"{s[:2]}ـــ{s[2:]} {v} «{o}» {rng.randrange(10, 2000)} GPU."
    return f"\u200e{s} {v} {o}\u200f — {pick(rng, AR_TIMES)}!"


def gen_arabic(rng, target):
    def para(r):
        return " ".join(ar_sentence(r) for _ in range(r.randrange(2, 7)))
    return fill(rng, target, para, sep="\n")


# ---------------------------------------------------------------------------------------------
# Hindi (Devanagari with virama, nukta, anusvara, danda, Devanagari digits)

HI_SUBJECTS = ["मैं", "हम", "वह", "बच्चे", "मेरी बहन", "शिक्षक", "किसान", "डॉक्टर साहब",
               "हमारी टीम", "दादी"]
HI_OBJECTS = ["किताब", "पानी", "खाना", "कंप्यूटर", "गाना", "पत्र", "चाय", "कहानी", "फ़िल्म",
              "अख़बार", "सवाल", "प्रोग्राम"]
HI_VERBS = ["पढ़ता हूँ", "लिखती है", "देखते हैं", "खाया", "सुनेंगे", "बनाया", "भेजा",
            "समझाती हैं", "ढूँढ रहे थे", "ठीक किया"]
HI_PLACES = ["घर में", "स्कूल में", "बाज़ार में", "दिल्ली में", "दफ़्तर में", "नदी के किनारे",
             "रेलगाड़ी में"]
HI_TIMES = ["आज", "कल", "सुबह", "रात को", "पिछले साल", "हर रविवार", "दोपहर में"]
HI_ADJ = ["बहुत अच्छा", "थोड़ा मुश्किल", "सुंदर", "नया", "शांत", "महँगा"]
HI_DIGITS = "०१२३४५६७८९"


def hi_sentence(rng):
    kind = rng.randrange(6)
    s, o, v = pick(rng, HI_SUBJECTS), pick(rng, HI_OBJECTS), pick(rng, HI_VERBS)
    if kind == 0:
        return f"{s} {pick(rng, HI_TIMES)} {pick(rng, HI_PLACES)} {o} {v}।"
    if kind == 1:
        return f"क्या {s} {o} {v}?"
    if kind == 2:
        n = "".join(pick(rng, HI_DIGITS) for _ in range(rng.randrange(1, 5)))
        return f"{s} ने {n} {o} {pick(rng, ['खरीदीं', 'देखीं', 'पढ़ीं'])}, जो {pick(rng, HI_ADJ)} थीं।"
    if kind == 3:
        return f"\"{o} {pick(rng, HI_ADJ)} है\", {s} ने कहा॥"
    if kind == 4:
        return f"{s} {pick(rng, HI_TIMES)} {rng.randrange(2, 500)} बार {o} {v} (लगभग {rng.randrange(1, 100)}%)।"
    return f"{o} — {pick(rng, HI_ADJ)}; {pick(rng, HI_PLACES)} {s} {v}।"


def gen_hindi(rng, target):
    def para(r):
        return " ".join(hi_sentence(r) for _ in range(r.randrange(2, 7)))
    return fill(rng, target, para, sep="\n")


# ---------------------------------------------------------------------------------------------
# Russian (Cyrillic with ё, guillemets, dashes; a little Ukrainian)

RU_SUBJECTS = ["Я", "Мы", "Он", "Она", "Студенты", "Мой друг", "Программист", "Учительница",
               "Соседский кот", "Бабушка", "Команда", "Этот сервер"]
RU_VERBS = ["читает", "пишет", "изучает", "построил", "любит", "видел", "починила", "забыл",
            "перевёл", "проверяет", "нарисовали", "ищет"]
RU_OBJECTS = ["книгу", "письмо", "код", "задачу", "море", "город", "ёлку", "отчёт", "песню",
              "карту", "базу данных", "ошибку", "самовар"]
RU_PLACES = ["в Москве", "дома", "на работе", "в библиотеке", "на даче", "у реки",
             "в поезде", "за городом"]
RU_TIMES = ["сегодня", "вчера", "завтра", "утром", "вечером", "в прошлом году", "каждый день",
            "ночью"]
RU_ADJ = ["очень интересно", "немного сложно", "ЖИВО", "тихо", "дорого", "просто великолепно"]
UK_WORDS = ["їжак", "ґанок", "єнот", "сьогодні", "дякую", "Київ"]


def ru_sentence(rng):
    kind = rng.randrange(6)
    s, v, o = pick(rng, RU_SUBJECTS), pick(rng, RU_VERBS), pick(rng, RU_OBJECTS)
    if kind == 0:
        return f"{s} {pick(rng, RU_TIMES)} {v} {o} {pick(rng, RU_PLACES)}."
    if kind == 1:
        return f"Почему {s.lower() if s not in ('Я',) else s} {v} {o}?"
    if kind == 2:
        return f"«{cap(o)} — это {pick(rng, RU_ADJ)}», — сказал {pick(rng, ['Иван', 'Пётр', 'Алексей'])}."
    if kind == 3:
        return f"{s.upper()} {v.upper()} {o.upper()}!"
    if kind == 4:
        return f"{s} {v} {rng.randrange(2, 1000)} раз(а) {o}… {pick(rng, UK_WORDS)}, {pick(rng, UK_WORDS)}."
    return f"{cap(pick(rng, RU_TIMES))}: {o}, {pick(rng, RU_OBJECTS)} и {pick(rng, RU_OBJECTS)}; {pick(rng, RU_ADJ)}."


def gen_russian(rng, target):
    def para(r):
        return " ".join(ru_sentence(r) for _ in range(r.randrange(2, 7)))
    return fill(rng, target, para)


# ---------------------------------------------------------------------------------------------
# Emoji

def cps(*points):
    return "".join(chr(p) for p in points)


ZWJ = 0x200D
VS16 = 0xFE0F
VS15 = 0xFE0E
EMOJI_BASIC = [0x1F600, 0x1F602, 0x1F60D, 0x1F622, 0x1F914, 0x1F44D, 0x1F44B, 0x1F389,
               0x1F680, 0x1F30D, 0x1F34E, 0x1F355, 0x1F431, 0x1F436, 0x1F525, 0x2728, 0x2764,
               0x1F4A9, 0x1F9E0, 0x1F916, 0x1F4BB, 0x1F4F1, 0x1F3B5, 0x1F308, 0x26A1, 0x2600,
               0x1F9EA, 0x1FAE0, 0x1FAE8, 0x1F6F8, 0x1F98A, 0x1F984]
EMOJI_SKIN_BASES = [0x1F44D, 0x1F44B, 0x1F64F, 0x1F44F, 0x270C, 0x1F590, 0x1F476, 0x1F469,
                    0x1F468, 0x1F9D1, 0x1F3C3, 0x1F6B4]
SKIN_TONES = [0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF]
EMOJI_ZWJ = [
    cps(0x1F468, ZWJ, 0x1F469, ZWJ, 0x1F467, ZWJ, 0x1F466),          # family
    cps(0x1F469, ZWJ, 0x1F469, ZWJ, 0x1F466),
    cps(0x1F468, 0x1F3FD, ZWJ, 0x1F4BB),                              # technologist
    cps(0x1F469, 0x1F3FF, ZWJ, 0x1F52C),                              # scientist
    cps(0x1F9D1, ZWJ, 0x1F680),                                       # astronaut
    cps(0x1F469, ZWJ, 0x2764, VS16, ZWJ, 0x1F48B, ZWJ, 0x1F468),      # kiss
    cps(0x1F3F3, VS16, ZWJ, 0x1F308),                                 # rainbow flag
    cps(0x1F3F4, ZWJ, 0x2620, VS16),                                  # pirate flag
    cps(0x1F415, ZWJ, 0x1F9BA),                                       # service dog
    cps(0x1F408, ZWJ, 0x2B1B),                                        # black cat
    cps(0x1F9D1, 0x1F3FB, ZWJ, 0x1F91D, ZWJ, 0x1F9D1, 0x1F3FE),       # holding hands
    cps(0x1F3C3, 0x1F3FC, ZWJ, 0x2640, VS16),                         # woman running
    cps(0x1F441, VS16, ZWJ, 0x1F5E8, VS16),                           # eye in speech bubble
    cps(0x2764, VS16, ZWJ, 0x1F525),                                  # heart on fire
]
FLAGS = ["JP", "FR", "BR", "IN", "KR", "EG", "UA", "CA", "DE", "NG", "MX", "AU", "ZZ"]
EMOJI_TAG_FLAG = cps(0x1F3F4, 0xE0067, 0xE0062, 0xE0073, 0xE0063, 0xE0074, 0xE007F)
TEXT_PRESENTATION = [0x2764, 0x263A, 0x2603, 0x2122, 0x00A9, 0x2194, 0x25B6]


def flag(code):
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code)


def emoji_one(rng):
    kind = rng.randrange(9)
    if kind == 0:
        return chr(pick(rng, EMOJI_BASIC))
    if kind == 1:
        return chr(pick(rng, EMOJI_SKIN_BASES)) + chr(pick(rng, SKIN_TONES))
    if kind == 2:
        return pick(rng, EMOJI_ZWJ)
    if kind == 3:
        return flag(pick(rng, FLAGS))
    if kind == 4:
        return pick(rng, "0123456789#*") + chr(VS16) + "\u20e3"
    if kind == 5:
        return chr(pick(rng, TEXT_PRESENTATION)) + chr(pick(rng, [VS15, VS16]))
    if kind == 6:
        return EMOJI_TAG_FLAG
    if kind == 7:
        return chr(pick(rng, SKIN_TONES))  # a lone modifier
    return chr(pick(rng, EMOJI_BASIC)) * rng.randrange(2, 6)


def emoji_line(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return "".join(emoji_one(rng) for _ in range(rng.randrange(1, 12)))
    if kind == 1:
        return " ".join(emoji_one(rng) for _ in range(rng.randrange(1, 12)))
    if kind == 2:
        return f"{en_sentence(rng)} {emoji_one(rng)}{emoji_one(rng)}"
    if kind == 3:  # glued to letters and digits
        return (f"abc{emoji_one(rng)}def {rng.randrange(1000)}{emoji_one(rng)}{rng.randrange(1000)} "
                f"{emoji_one(rng)}x{emoji_one(rng)}Y{emoji_one(rng)}_z")
    if kind == 4:
        return f"{zh_sentence(rng)}{emoji_one(rng)} {ja_sentence(rng)}{emoji_one(rng)}"
    if kind == 5:
        return f"#{pick(rng, EN_NOUNS)}{emoji_one(rng)} @{pick(rng, EN_NAMES)}{emoji_one(rng)}!!! {emoji_one(rng)}?"
    return "\u200d".join(emoji_one(rng) for _ in range(rng.randrange(2, 5)))


def gen_emoji(rng, target):
    def para(r):
        return "\n".join(emoji_line(r) for _ in range(r.randrange(3, 9)))
    return fill(rng, target, para)


# ---------------------------------------------------------------------------------------------
# Code (C, Python, JavaScript, JSON, shell, HTML, SQL, Makefile, CSS, diff)

CODE_WORDS = ["buffer", "count", "index", "node", "value", "result", "config", "token",
              "offset", "length", "cache", "entry", "parser", "state", "queue", "weight",
              "scale", "block", "row", "col", "item", "path", "name", "size"]
CODE_TYPES_C = ["int", "size_t", "uint32_t", "float", "double", "const char *", "int64_t"]


def ident(rng, style="snake"):
    words = [pick(rng, CODE_WORDS) for _ in range(rng.randrange(1, 4))]
    if style == "snake":
        return "_".join(words)
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if style == "pascal":
        return "".join(w.capitalize() for w in words)
    return "_".join(words).upper()


def code_c(rng):
    fn, a, b = ident(rng), ident(rng), ident(rng)
    t = pick(rng, CODE_TYPES_C)
    k = rng.randrange(1, 31)
    return (
        f"/* {en_sentence(rng)} */\n"
        f"static {t} {fn}(const char *{a}, size_t {b})\n"
        "{\n"
        f"    {t} acc = 0;\n"
        f"    for (size_t i = 0; i < {b}; ++i) {{\n"
        f"        if ({a}[i] == '\\n' || {a}[i] == '\\t') {{\n"
        f"            acc += {rng.randrange(1, 1000)};\n"
        "        } else {\n"
        f"            acc ^= (({t})(unsigned char){a}[i] << {k}) & 0x{rng.randrange(1 << 32):08X}u;\n"
        "        }\n"
        "    }\n"
        f"    printf(\"%s: %zu -> %d\\n\", \"{pick(rng, EN_NOUNS)}\", {b}, (int)acc);\n"
        f"    return acc >= {rng.randrange(100)} ? acc : -1; // {pick(rng, EN_CONTRACTIONS)} {pick(rng, EN_ADJECTIVES)}\n"
        "}\n"
    )


def code_python(rng):
    cls, meth, arg = ident(rng, "pascal"), ident(rng), ident(rng)
    return (
        f"class {cls}:\n"
        f"    \"\"\"{en_sentence(rng)}\"\"\"\n"
        "\n"
        f"    def __init__(self, {arg}: int = {rng.randrange(100)}) -> None:\n"
        f"        self.{arg} = {arg}\n"
        f"        self._items: dict[str, list[float]] = {{}}\n"
        "\n"
        f"    def {meth}(self, *args, **kwargs):\n"
        f"        for i, x in enumerate(args):\n"
        f"            if x is None or i % {rng.randrange(2, 9)} == 0:\n"
        "                continue\n"
        f"            self._items.setdefault(f\"{{i:04d}}\", []).append(x ** {rng.randrange(2, 5)} / {rng.random():.3f})\n"
        f"        return [k for k, v in self._items.items() if len(v) >= {rng.randrange(1, 5)}]  # {pick(rng, EN_CONTRACTIONS)}\n"
    )


def code_js(rng):
    fn, v = ident(rng, "camel"), ident(rng, "camel")
    return (
        f"export async function {fn}({v}, opts = {{}}) {{\n"
        f"  const {{ retries = {rng.randrange(1, 6)}, url = '/api/{pick(rng, CODE_WORDS)}' }} = opts;\n"
        f"  const res = await fetch(`${{url}}?q=${{encodeURIComponent({v})}}&n={rng.randrange(100)}`);\n"
        "  if (!res.ok) throw new Error(`HTTP ${res.status}: ${res.statusText}`);\n"
        f"  return (await res.json()).filter((x) => x?.{pick(rng, CODE_WORDS)} !== undefined && x.score >= {rng.random():.2f});\n"
        "};\n"
    )


def code_json(rng):
    return (
        "{\n"
        f"  \"{ident(rng, 'camel')}\": {rng.randrange(-1000, 100000)},\n"
        f"  \"{ident(rng)}\": \"{pick(rng, EN_NOUNS)}\\u00e9\\n\\t\\\"quoted\\\"\\\\\",\n"
        f"  \"ratio\": {rng.random():.6f}, \"enabled\": {pick(rng, ['true', 'false'])}, \"none\": null,\n"
        f"  \"tags\": [\"{pick(rng, CODE_WORDS)}\", \"{pick(rng, CODE_WORDS)}\", \"\\ud83d\\ude00\"],\n"
        f"  \"nested\": {{\"a\": [1, 2, {{\"b\": [[], {{}}]}}], \"c\": {rng.randrange(10**9)}e-{rng.randrange(1, 12)}}}\n"
        "}\n"
    )


def code_shell(rng):
    var = ident(rng, "upper")
    return (
        "#!/usr/bin/env bash\n"
        "set -euo pipefail\n"
        f"{var}=\"${{{var}:-/tmp/{pick(rng, CODE_WORDS)}}}\"\n"
        f"for f in \"${var}\"/*.txt; do\n"
        f"    grep -c '{pick(rng, EN_NOUNS)}' \"$f\" 2>&1 | awk '{{ s += $1 }} END {{ print s }}' >> out.log\n"
        "done\n"
        f"[[ -n \"${{1:-}}\" ]] && echo \"usage: $0 <{pick(rng, CODE_WORDS)}>\" >&2 || exit {rng.randrange(1, 4)}\n"
        f"tar -czf backup-$(date +%Y%m%d).tar.gz ./{pick(rng, CODE_WORDS)} && rm -rf ./tmp/*\n"
    )


def code_html(rng):
    cls = ident(rng).replace("_", "-")
    return (
        "<!DOCTYPE html>\n"
        "<html lang=\"en\">\n"
        "<head><meta charset=\"utf-8\"><title>"
        f"{pick(rng, EN_ADJECTIVES).capitalize()} &amp; {pick(rng, EN_NOUNS)}</title></head>\n"
        "<body>\n"
        f"  <div class=\"{cls}\" data-id=\"{rng.randrange(10**5)}\" style=\"margin: 0 auto; width: {rng.randrange(10, 100)}%\">\n"
        f"    <p>{en_sentence(rng)} &lt;b&gt; &#x1F600; &#169; &nbsp;</p>\n"
        f"    <a href=\"/{pick(rng, CODE_WORDS)}?a=1&amp;b=2#top\">link</a><br/>\n"
        "  </div>\n"
        "  <script>document.querySelectorAll('.x').forEach(e => e.remove());</script>\n"
        "</body>\n"
        "</html>\n"
    )


def code_sql(rng):
    t = ident(rng)
    return (
        f"SELECT u.id, COUNT(*) AS n, AVG(o.{pick(rng, CODE_WORDS)}) FROM users u\n"
        f"  LEFT JOIN {t} o ON o.user_id = u.id\n"
        f"WHERE u.created_at >= '2024-0{rng.randrange(1, 10)}-1{rng.randrange(10)}' AND u.name LIKE '%{pick(rng, EN_NAMES)}%'\n"
        f"GROUP BY u.id HAVING n > {rng.randrange(100)} ORDER BY n DESC LIMIT {rng.randrange(1, 50)}; -- {pick(rng, EN_CONTRACTIONS)}\n"
    )


def code_make(rng):
    tgt = pick(rng, CODE_WORDS)
    return (
        f"{tgt}: {tgt}.o util.o\n"
        "\t$(CC) $(CFLAGS) -o $@ $^ -lm\n"
        "\n"
        "%.o: %.c\n"
        "\t$(CC) $(CFLAGS) -c $< -o $@\n"
        "\t@echo \"built $@\"\t# tab before the comment\n"
    )


def code_go(rng):
    fn = ident(rng, "pascal")
    return (
        f"func {fn}(xs []int) (int, error) {{\n"
        "\tsum := 0\n"
        "\tfor _, x := range xs {\n"
        f"\t\tif x < 0 {{\n\t\t\treturn 0, fmt.Errorf(\"negative: %d\", x)\n\t\t}}\n"
        f"\t\tsum += x * {rng.randrange(2, 9)}\n"
        "\t}\n"
        "\treturn sum, nil\n"
        "}\n"
    )


def code_css(rng):
    return (
        f".{ident(rng).replace('_', '-')} > a:hover::after {{\n"
        f"  color: #{rng.randrange(1 << 24):06x}; margin: {rng.randrange(20)}px -{rng.randrange(9)}em;\n"
        f"  font-family: \"Helvetica Neue\", sans-serif; content: '\\201C';\n"
        "}\n"
    )


def code_diff(rng):
    a, b = ident(rng), ident(rng)
    return (
        f"--- a/src/{a}.c\n+++ b/src/{a}.c\n"
        f"@@ -{rng.randrange(1, 500)},7 +{rng.randrange(1, 500)},8 @@\n"
        f" int {a}(void) {{\n"
        f"-    return {b}(0);\n"
        f"+    int r = {b}(1);\n"
        f"+    return r < 0 ? r : 0;\n"
        "}\n"
    )


def code_regex_rust(rng):
    return (
        f"let re = Regex::new(r\"^(?P<{pick(rng, CODE_WORDS)}>[a-z]+)\\s*=\\s*(\\d{{1,3}})$\").unwrap();\n"
        f"let v: Vec<&str> = s.split(|c: char| c == ',' || c.is_whitespace()).collect::<Vec<_>>();\n"
        f"assert_eq!(v.len(), {rng.randrange(10)}, \"{{:?}}\", v); // {pick(rng, EN_CONTRACTIONS)}\n"
    )


CODE_MAKERS = [code_c, code_python, code_js, code_json, code_shell, code_html, code_sql,
               code_make, code_go, code_css, code_diff, code_regex_rust]


def gen_code(rng, target):
    return fill(rng, target, lambda r: pick(r, CODE_MAKERS)(r), sep="\n")


# ---------------------------------------------------------------------------------------------
# Numbers

def rand_int(rng):
    return str(rng.randrange(10 ** rng.randrange(1, 25)))


def thousands(rng, sep=","):
    n = rng.randrange(1000, 10 ** rng.randrange(4, 16))
    s = f"{n:,}"
    return s.replace(",", sep)


def number_token(rng):
    kind = rng.randrange(22)
    if kind == 0:
        return rand_int(rng)
    if kind == 1:
        return f"{rng.uniform(-1e6, 1e6):.{rng.randrange(0, 9)}f}"
    if kind == 2:
        return thousands(rng)
    if kind == 3:
        return thousands(rng, pick(rng, [".", " ", "\u202f", "'", "\u00a0"]))
    if kind == 4:
        return f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if kind == 5:
        return f"{rng.randrange(1, 29)}/{rng.randrange(1, 13)}/{rng.randrange(100)}"
    if kind == 6:
        return f"+{rng.randrange(1, 999)} ({rng.randrange(100, 999)}) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
    if kind == 7:
        return f"0x{rng.randrange(1 << rng.randrange(4, 64)):X}"
    if kind == 8:
        return f"0x{rng.randrange(1 << 32):08x}"
    if kind == 9:
        return f"{rng.uniform(0, 10):.3f}e{pick(rng, ['', '+', '-'])}{rng.randrange(1, 300)}"
    if kind == 10:
        return f"{rng.randrange(1, 10)}.{rng.randrange(1000)}E-{rng.randrange(1, 40)}"
    if kind == 11:
        return f"{pick(rng, ['abc', 'x', 'Var', 'id', 'ab_'])}{rand_int(rng)}{pick(rng, ['def', 'px', 'th', 'GB', 'ms', 'Hz', ''])}"
    if kind == 12:
        return f"{rng.randrange(1950, 2100)}年{rng.randrange(1, 13)}月"
    if kind == 13:
        return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}"
    if kind == 14:
        return f"v{rng.randrange(10)}.{rng.randrange(30)}.{rng.randrange(200)}-rc{rng.randrange(5)}"
    if kind == 15:
        return f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}:{rng.randrange(65536)}"
    if kind == 16:
        return f"{rng.randrange(-100, 100)}%"
    if kind == 17:
        return f"${rng.randrange(10**7):,}.{rng.randrange(100):02d}"
    if kind == 18:
        return f"0b{rng.randrange(1 << 16):b}"
    if kind == 19:
        return f"{rng.randrange(1, 99)}/{rng.randrange(2, 100)}"
    if kind == 20:
        return "".join(pick(rng, "0123456789") for _ in range(rng.randrange(30, 120)))
    return f"-{rng.randrange(10**6)}.{rng.randrange(10**6)}"


def numbers_line(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return " ".join(number_token(rng) for _ in range(rng.randrange(3, 10)))
    if kind == 1:
        return ", ".join(number_token(rng) for _ in range(rng.randrange(3, 8)))
    if kind == 2:
        return "\t".join(number_token(rng) for _ in range(rng.randrange(2, 6)))
    if kind == 3:
        return (f"Order #{rng.randrange(10**7)} shipped on {number_token(rng)}: "
                f"{rng.randrange(1, 100)} items \u00d7 {number_token(rng)} = {number_token(rng)}")
    return "".join(number_token(rng) for _ in range(rng.randrange(2, 5)))


def gen_numbers(rng, target):
    lines = ["0", "00", "000", "0000", "1", "12", "123", "1234", "12345", "123456", "1234567",
             "-0", "+1", "1.", ".5", "1e9", "1E-9", "3.14159265358979323846", "9" * 64]
    body = fill(rng, target - sum(nbytes(x) + 1 for x in lines),
                lambda r: "\n".join(numbers_line(r) for _ in range(r.randrange(3, 10))))
    return "\n".join(lines) + "\n" + body


# ---------------------------------------------------------------------------------------------
# Whitespace

UNICODE_SPACES = ["\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005",
                  "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f",
                  "\u205f", "\u3000", "\u0085"]
# Not White_Space in Unicode, though some engines or libraries treat them as spaces.
NEAR_SPACES = ["\u180e", "\u200b", "\ufeff", "\u001c", "\u001d", "\u001e", "\u001f", "\u2060"]
ASCII_SPACES = [" ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c"]


def ws_run(rng):
    kind = rng.randrange(12)
    if kind == 0:
        return " " * rng.randrange(1, 201)
    if kind == 1:
        return "\t" * rng.randrange(1, 30)
    if kind == 2:
        return "".join(pick(rng, ["\t", " ", "\n"]) for _ in range(rng.randrange(1, 40)))
    if kind == 3:
        return "\r\n" * rng.randrange(1, 6)
    if kind == 4:
        return " " * rng.randrange(1, 20) + "\n"
    if kind == 5:
        return "".join(pick(rng, UNICODE_SPACES) for _ in range(rng.randrange(1, 10)))
    if kind == 6:
        return "".join(pick(rng, ASCII_SPACES + UNICODE_SPACES) for _ in range(rng.randrange(1, 25)))
    if kind == 7:
        return pick(rng, NEAR_SPACES) * rng.randrange(1, 4)
    if kind == 8:
        return "\n" * rng.randrange(1, 12)
    if kind == 9:
        return pick(rng, ["\x0b", "\x0c", "\x0c\n", "\n\x0c", "\r\r", "\r \r", "\n\r"])
    if kind == 10:
        return " " * rng.randrange(1, 8) + "\r\n" + " " * rng.randrange(0, 8)
    return "\r\n\n  \t"


WS_WORDS = ["word", "Word", "x", "42", "(", "!!", "end", "été", "日本", "the", ":", "//", "'s",
            "don't", "A", "\u00e9", "\u05e9\u05dc\u05d5\u05dd", "#", "...", "a1"]


def ws_line(rng):
    kind = rng.randrange(7)
    if kind == 0:
        return " " * rng.randrange(1, 201) + "\n"
    if kind == 1:
        return pick(rng, WS_WORDS) + " " * rng.randrange(1, 20) + pick(rng, ["\n", "\r\n"])
    if kind == 2:
        return "\t" * rng.randrange(0, 6) + pick(rng, WS_WORDS) + "\n"
    if kind == 3:
        return "".join(ws_run(rng) + pick(rng, WS_WORDS) for _ in range(rng.randrange(1, 8)))
    if kind == 4:
        return pick(rng, WS_WORDS) + pick(rng, UNICODE_SPACES + NEAR_SPACES) + pick(rng, WS_WORDS) + "\n"
    if kind == 5:
        return ws_run(rng)
    return " ".join(pick(rng, WS_WORDS) for _ in range(rng.randrange(1, 8))) + " " * rng.randrange(1, 5) + "\n"


def gen_whitespace(rng, target):
    head = ("leading spaces follow\n" + " " * 200 + "two hundred\n" + "\t\t\t\ttabs\n"
            + "trailing   \n" + "   \n" + "\n\n\n" + "crlf\r\n" + "lone cr\rafter\n"
            + "mixed\r\n\n  \t" + "x\n" + " \n \n \n" + "a \u00a0b\u3000c\u2003d\u0085e\u2028f\u2029g\n")
    body = fill(rng, target - nbytes(head), lambda r: "".join(ws_line(r) for _ in range(r.randrange(4, 14))), sep="")
    # Ends in spaces without a newline: `\s+(?!\S)` at the very end of the input.
    return head + body + "end" + " " * 7


# ---------------------------------------------------------------------------------------------
# Random Unicode

# Hand-picked blocks: (first, last) code points; used to draw runs from one script.
SCRIPT_BLOCKS = [
    (0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF),
    (0x0531, 0x058F), (0x05D0, 0x05EA), (0x0600, 0x06FF), (0x0900, 0x097F), (0x0980, 0x09FF),
    (0x0B80, 0x0BFF), (0x0E00, 0x0E7F), (0x0F00, 0x0FFF), (0x10A0, 0x10FF), (0x1100, 0x11FF),
    (0x1200, 0x137F), (0x13A0, 0x13FF), (0x1800, 0x18AF), (0x1E00, 0x1EFF), (0x1F00, 0x1FFF),
    (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2150, 0x218F),
    (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2460, 0x24FF), (0x2500, 0x257F), (0x2C00, 0x2C5F),
    (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3100, 0x312F), (0x4E00, 0x9FFF), (0xA000, 0xA48F),
    (0xA640, 0xA69F), (0xAC00, 0xD7A3), (0xFB00, 0xFB4F), (0xFE70, 0xFEFF), (0xFF00, 0xFFEF),
    (0x10000, 0x1007F), (0x10400, 0x1044F), (0x104B0, 0x104FF), (0x12000, 0x123FF),
    (0x13000, 0x1342F), (0x1D400, 0x1D7FF), (0x1E900, 0x1E95F), (0x1F000, 0x1F02F),
    (0x1F300, 0x1F5FF), (0x20000, 0x2A6DF), (0x30000, 0x3134F),
]
COMBINING_BLOCKS = [(0x0300, 0x036F), (0x0483, 0x0489), (0x0591, 0x05BD), (0x064B, 0x065F),
                    (0x0900, 0x0903), (0x093A, 0x094F), (0x1AB0, 0x1ACE), (0x1DC0, 0x1DFF),
                    (0x20D0, 0x20F0), (0xFE20, 0xFE2F), (0x1D165, 0x1D169), (0xE0100, 0xE01EF)]
CONTROL_RANGES = [(0x0000, 0x0008), (0x000E, 0x001F), (0x007F, 0x009F)]
PRIVATE_USE = [(0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD)]


def from_ranges(rng, ranges):
    lo, hi = pick(rng, ranges)
    return chr(rng.randrange(lo, hi + 1))


def any_code_point(rng):
    # Half the draws from the BMP (where most assigned characters live), half from any plane.
    if rng.random() < 0.5:
        cp = rng.randrange(0x20, 0x10000)
    else:
        cp = rng.randrange(0x10000, 0x110000)
    if 0xD800 <= cp <= 0xDFFF:
        cp -= 0x800
    return chr(cp)


def random_unicode_chunk(rng):
    kind = rng.randrange(10)
    n = rng.randrange(1, 40)
    if kind in (0, 1, 2):
        return "".join(any_code_point(rng) for _ in range(n))
    if kind == 3:
        lo, hi = pick(rng, SCRIPT_BLOCKS)
        return "".join(chr(rng.randrange(lo, hi + 1)) for _ in range(n))
    if kind == 4:  # stacked combining marks on a base
        base = pick(rng, ["a", "E", "o", "\u0915", "\u05d0", "x", " ", "1", "!", "\u4e00", "\n"])
        return base + "".join(from_ranges(rng, COMBINING_BLOCKS) for _ in range(rng.randrange(1, 12)))
    if kind == 5:
        return "".join(from_ranges(rng, CONTROL_RANGES) for _ in range(rng.randrange(1, 6)))
    if kind == 6:
        return "".join(from_ranges(rng, PRIVATE_USE) for _ in range(rng.randrange(1, 6)))
    if kind == 7:  # noncharacters
        plane = rng.randrange(17) << 16
        return chr(plane | pick(rng, [0xFFFE, 0xFFFF])) + chr(rng.randrange(0xFDD0, 0xFDF0))
    if kind == 8:  # a word made of several scripts
        return "".join(chr(rng.randrange(*pick(rng, SCRIPT_BLOCKS))) for _ in range(rng.randrange(2, 12)))
    return pick(rng, [" ", "  ", "\n", "\t", " ", "'s", "'", "123", "_"])


def gen_random_unicode(rng, target):
    def para(r):
        return "".join(random_unicode_chunk(r) for _ in range(r.randrange(5, 30)))
    return fill(rng, target, para, sep="\n")


# ---------------------------------------------------------------------------------------------
# Mixed: short lines mixing everything, also encoded one line at a time by the goldens script.

OTHER_SCRIPTS = ["Ελληνικά γράμματα", "עברית פשוטה", "ภาษาไทยไม่มีช่องว่าง", "ქართული ენა",
                 "Հայերեն", "ኢትዮጵያ", "தமிழ் மொழி", "বাংলা ভাষা", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "ᠮᠣᠩᠭᠣᠯ\u180eᠪᠢᠴᠢᠭ",
                 "Tiếng Việt có dấu", "Ça va très bien", "Größe ẞ straße", "Ñandú año", "Łódź źdźbło",
                 "İstanbul ılık", "𐐷𐐸 Deseret 𐐏𐐐", "𞤀𞤣𞤤𞤢𞤥 𞤢𞤣𞤤𞤢𞤥", "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄"]
MIXED_MAKERS = [en_sentence, zh_sentence, ja_sentence, ko_sentence, ar_sentence, hi_sentence,
                ru_sentence, emoji_one, number_token, lambda r: pick(r, OTHER_SCRIPTS),
                lambda r: pick(r, CODE_MAKERS)(r).split("\n")[r.randrange(3)]]


def mixed_line(rng):
    parts = [pick(rng, MIXED_MAKERS)(rng) for _ in range(rng.randrange(1, 6))]
    joiners = [" ", "", " ", "\t", "  ", " | ", ", "]
    text = parts[0]
    for p in parts[1:]:
        text += pick(rng, joiners) + p
    end = pick(rng, ["\n", "\n", "\n", "\r\n", " \n", "\n\n"])
    return text + end


def gen_mixed(rng, target):
    return fill(rng, target, lambda r: "".join(mixed_line(r) for _ in range(r.randrange(5, 15))), sep="")


# ---------------------------------------------------------------------------------------------
# Edge cases

EDGE_FIXED = [
    # Contractions in every case; the pattern takes them case-insensitively.
    "'s 'S 't 'T 're 'Re 'RE 'rE 've 'VE 'm 'M 'll 'LL 'Ll 'd 'D",
    "it's IT'S It'S don't DON'T Don'T we're WE'RE they've THEY'VE I'm I'M you'll YOU'LL she'd SHE'D",
    "'x 'st 'sss 'ts 'rest 'mm 'dd 'lll 'ver ''s ''' 's's 'S'T'RE",
    "don\u2019t it\u2019s we\u2019re \u2018quoted\u2019 DON\u2019T",
    # U+017F long s folds to s, so "'ſ" is a contraction under (?i).
    "'\u017f '\u017F '\u017ft bu\u017f'\u017f WA\u017f'\u017f \u017f'\u017f'\u017f",
    # U+212A Kelvin sign and U+0130/U+0131 have odd case mappings; not contractions.
    "'\u212a '\u0130 '\u0131 'K 'k",
    "hello's 123's !'s  's \n's \t's \u00a0's \u3000's",
    # Letters with combining marks, precomposed and decomposed.
    "e\u0301 \u00e9 n\u0303 \u00f1 a\u030a \u00e5 A\u0308\u0304 Z\u0335\u0336 q\u0323\u0307",
    "\u0301\u0301 leading marks \u0308x \u20dd\u20de enclosing \u0489",
    # Titlecase letters (Lt), the only case class in the first alternative's first set only.
    "\u01c5 \u01c8 \u01cb \u01f2 \u1f88 \u1fbc \u1ffc \u01c4\u01c5\u01c6 \u01c5a \u01c5A a\u01c5 A\u01c5a",
    "\u01c5's \u01c4'S \u01c6'\u017f",
    # Modifier letters (Lm) and other letters (Lo) sit in both character sets.
    "\u02b0\u02b2\u02e0 \u02c6\u02c7 \u3005 \u30fc\u30fc \u3031 \uff70 \u0640\u0640 a\u02b0b A\u02b0B",
    "\u00aa\u00ba \u01bb \u05d0\u05d1 \u3042\u30a2 \u4e00 \u0905 \u0e01 \u1100 \uac00 \ua6a0",
    "ABC\u3005def \u30fcABC \u02b0ABC x\u00aaY",
    # Case-stable words, camel case and mixed scripts inside one word.
    "HTTPServer getHTTPResponseCode iPhone eBay McDonald XMLHttpRequest ABCdefGHIjkl",
    "\u0391\u03b8\u03ae\u03bd\u03b1 \u0410\u0411\u0412\u0433\u0434 Caf\u00e9\u0392\u03b5\u03c4\u03b1 \u0130stanbul",
    # Digits from other scripts and other numeric categories (Nl, No).
    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669 \u06f0\u06f1\u06f2\u06f3\u06f4",
    "\u0966\u0967\u0968\u0969\u096a\u096b \u09e6\u09e7\u09e8 \u0e50\u0e51\u0e52 \u0f20\u0f21",
    "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17 \U0001d7ce\U0001d7cf\U0001d7d0\U0001d7d1",
    "\u2160\u2161\u2162\u216b \u3007\u3021\u3022 \u00b2\u00b3\u00b9 \u00bd\u00bc\u00be \u2460\u2461\u2473 \u2070\u2074",
    "abc\u0661\u0662\u0663def x\uff11\uff12\uff13\uff14y 1\u00b22\u00b33 \u00bd1/2",
    "\U00010107\U00010108 \U000104a0\U000104a1 \U0001e950\U0001e951",
    # Special token names are plain text here.
    "<|start|> <|end|> <|message|> <|channel|> <|endoftext|> <|startoftext|> <|return|> <|call|>",
    "<|constrain|> <|reserved_200000|> <|reserved_201087|> <|endofprompt|> <|foo|> <||> <| |> < |start| >",
    "x<|start|>y<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|return|>",
    "<|start|><|start|><|start|>user<|message|>",
    # CR and CRLF handling.
    "crlf line\r\nnext\r\n\r\nafter blank\r\n",
    "lone\rcr\r\rtwo\r \r\t\r",
    "mixed\r\n\n  \t\r\n \n\n\t\t\n",
    "\n\r\n\r",
    "text   \r\n   text\t\r\n\t",
    # Punctuation runs, slashes and newlines after punctuation.
    "!!!??? ... ,,,;;; ---=== /// \\\\\\ ~~~ ``` \"\"\" ''' ((( ))) [[[ ]]] {{{ }}} <<< >>>",
    "a/b//c///d ./.. ../../ http://x.y/z/ //\n//\r\n/\n/",
    "!\n!!\n\n? \n", ") /\n", "*/\r\n",
    "\u00a1\u00bf \u3002\u3001 \uff01\uff1f \u2026\u2026 \u2014\u2014 \u00ab\u00bb \u300c\u300d",
    # Symbols that are neither letters, numbers nor spaces.
    "$%^&*+=|<>~` \u00a7\u00b6\u2020\u2021 \u20ac\u00a3\u00a5\u20b9 \u2190\u2191\u2192 \u2211\u220f\u221a\u221e",
    # Spaces that are not White_Space and engine-dependent \s (U+180E, U+200B, U+FEFF, U+001C-1F).
    "a\u180eb a \u180eb a\u200bb a\u200cb a\u200db a\u2060b a\ufeffb a\u001cb a\u001db a\u001eb a\u001fb",
    "\ufeffBOM at line start\n\ufeff\ufeff \ufeff",
    "x \u0085y \u0085\u0085z \n\u0085\n \u2028 \u2029\u2029",
    "\u00a0\u00a0word \u3000\u3000\u5b57 \u2003\u2003\u2003!",
    # Control characters, including NUL.
    "\x00 \x00\x00 nul\x00byte \x01\x02\x03 \x07\x08 \x1b[31mred\x1b[0m \x7f \x80\x81\x9f",
    # Noncharacters, private use, astral letters and symbols.
    "\ufffe\uffff \ufdd0\ufdef \U0001fffe \U0010ffff \ue000\uf8ff \U000f0000 \U00100000",
    "\U00010400\U00010428 \U0001d400\U0001d41a \U0001e900\U0001e922 \U00020000\U0002a6d6 \U00031350",
    "\ufffd\ufffd replacement \ufffc",
    # Regional indicators that do not pair up, lone ZWJ and variation selectors.
    "\U0001f1e6 \U0001f1e6\U0001f1e7\U0001f1e8 \u200d \u200d\u200d x\ufe0fy \ufe0f \U000e0100",
    # Hangul jamo sequences and syllables.
    "\u1100\u1161\u11a8 \uac01 \u3131\u314f \u1100\u1100\u1161\u1161",
    # Thai and other scripts without spaces; Devanagari clusters.
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a \u0915\u094d\u0937 \u0915\u094d\u200d\u0937 \u0924\u094d\u0930",
    # Bidirectional controls inside words.
    "abc\u202edcba\u202c \u2067\u05e9\u05dc\u05d5\u05dd\u2069 \u200fx\u200e",
    # Numbers glued to letters and punctuation.
    "abc123def 123abc abc123 1a2b3c4d 12345678901234 a1234567b 2025\u5e74 \u7b2c3\u7ae0 v1.2.3 3.14e-10",
    "1,234,567.89 1.234.567,89 \u20ac1,50 12\u00a0345 1_000_000 0xDEAD_BEEF",
]


def edge_generated(rng):
    parts = []
    # Very long words of several kinds: lower, upper, camel, CJK, Cyrillic, with marks.
    parts.append("".join(pick(rng, "abcdefghijklmnopqrstuvwxyz") for _ in range(1500)))
    parts.append("".join(pick(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(1200)))
    parts.append("".join(pick(rng, ["ab", "Cd", "EF", "gh", "Ij"]) for _ in range(600)) + "'s")
    parts.append("".join(pick(rng, "\u0430\u0431\u0432\u0433\u0434\u0435\u0436\u0437\u0438\u043a") for _ in range(1000)))
    parts.append("".join(chr(rng.randrange(0x4E00, 0x9FA0)) for _ in range(1000)))
    parts.append("".join(pick(rng, "aeiou") + "\u0301" for _ in range(500)))
    parts.append("x" * 2000)
    parts.append(" " * 1000 + "y")
    # Very long digit runs and long runs of one punctuation mark.
    parts.append("".join(pick(rng, "0123456789") for _ in range(3001)))
    parts.append("1" * 1000 + "a" + "2" * 1000)
    parts.append("\u0661" * 500 + "\uff12" * 500)
    parts.append("!" * 500 + "\n" * 3 + "/" * 500)
    parts.append("=" * 800 + " " + "-" * 800)
    parts.append("\t" * 300 + "\n" * 300)
    parts.append("'s" * 400)
    parts.append("\U0001F600" * 300)
    return parts


def gen_edge_cases(rng, target):
    text = "\n".join(EDGE_FIXED) + "\n" + "\n".join(edge_generated(rng)) + "\n"
    text += fill(rng, target - nbytes(text),
                 lambda r: " ".join(pick(r, EDGE_FIXED) for _ in range(r.randrange(1, 4))), sep="\n")
    return text


# ---------------------------------------------------------------------------------------------
# Characters assigned in recent Unicode versions (15.0 onward), where engines built on older
# tables see unassigned code points (neither letter nor number) and split differently. The
# regex engine inside tiktoken 0.14 knows Unicode 16.0: it takes the 15.x and 16.0 blocks below
# as letters and digits but the 17.0 ones as unassigned, which a matcher must then do as well.

RECENT_UNICODE = [
    ("Unicode 15.0 Kawi", 0x11F04, 0x11F10),
    ("Unicode 15.0 Kawi digits", 0x11F50, 0x11F59),
    ("Unicode 15.0 Nag Mundari", 0x1E4D0, 0x1E4EB),
    ("Unicode 15.0 Nag Mundari digits", 0x1E4F0, 0x1E4F9),
    ("Unicode 15.0 Cyrillic Extended-D", 0x1E030, 0x1E06D),
    ("Unicode 15.0 Kaktovik numerals", 0x1D2C0, 0x1D2D3),
    ("Unicode 15.0 Latin Extended-G", 0x1DF25, 0x1DF2A),
    ("Unicode 15.0 CJK Extension H", 0x31350, 0x31360),
    ("Unicode 15.1 CJK Extension I", 0x2EBF0, 0x2EC00),
    ("Unicode 16.0 Garay", 0x10D4A, 0x10D65),
    ("Unicode 16.0 Garay digits", 0x10D40, 0x10D49),
    ("Unicode 16.0 Todhri", 0x105C0, 0x105D0),
    ("Unicode 16.0 Tulu-Tigalari", 0x11380, 0x11389),
    ("Unicode 16.0 Sunuwar", 0x11BC0, 0x11BE0),
    ("Unicode 16.0 Sunuwar digits", 0x11BF0, 0x11BF9),
    ("Unicode 16.0 Gurung Khema", 0x16100, 0x1611D),
    ("Unicode 16.0 Kirat Rai", 0x16D43, 0x16D6A),
    ("Unicode 16.0 Kirat Rai digits", 0x16D70, 0x16D79),
    ("Unicode 16.0 Ol Onal", 0x1E5D0, 0x1E5ED),
    ("Unicode 16.0 Myanmar Extended-C digits", 0x116D0, 0x116E3),
    ("Unicode 16.0 outlined digits", 0x1CCF0, 0x1CCF9),
    ("Unicode 17.0 Sidetic", 0x10940, 0x10959),
    ("Unicode 17.0 Tolong Siki", 0x11DB0, 0x11DC0),
    ("Unicode 17.0 Beria Erfe", 0x16EA0, 0x16EB8),
    ("Unicode 17.0 Tai Yo", 0x1E6C0, 0x1E6D0),
    ("Unicode 17.0 CJK Extension J", 0x323B0, 0x323C0),
]


def gen_unicode_versions(rng, target):
    lines = []
    for label, lo, hi in RECENT_UNICODE:
        run = "".join(chr(c) for c in range(lo, hi + 1))
        lines.append(f"{label}: {run} x{run[:3]}y {run[:2]}'s {run[-2:]}123 !{run[:1]}!")
    text = "\n".join(lines) + "\n"

    def para(r):
        label, lo, hi = pick(r, RECENT_UNICODE)
        word = "".join(chr(r.randrange(lo, hi + 1)) for _ in range(r.randrange(1, 8)))
        return f"{pick(r, EN_NOUNS)}{word} {word}{pick(r, ['abc', 'ABC', '42', ' ', '.', '', chr(0x301)])}"

    return text + fill(rng, target - nbytes(text), para, sep=" ")


# ---------------------------------------------------------------------------------------------

GENERATORS = {
    "english.txt": gen_english,
    "chinese.txt": gen_chinese,
    "japanese.txt": gen_japanese,
    "korean.txt": gen_korean,
    "arabic.txt": gen_arabic,
    "hindi.txt": gen_hindi,
    "russian.txt": gen_russian,
    "emoji.txt": gen_emoji,
    "code.txt": gen_code,
    "numbers.txt": gen_numbers,
    "whitespace.txt": gen_whitespace,
    "random_unicode.txt": gen_random_unicode,
    "mixed.txt": gen_mixed,
    "edge_cases.txt": gen_edge_cases,
    "unicode_versions.txt": gen_unicode_versions,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="PRNG seed (default: %(default)s)")
    args = ap.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, gen in GENERATORS.items():
        # One stream per file, so changing one generator leaves the other files unchanged.
        rng = random.Random(args.seed ^ zlib.crc32(name.encode("ascii")))
        text = gen(rng, TARGETS[name])
        data = text.encode("utf-8")  # raises on a lone surrogate, which UTF-8 cannot hold
        with open(os.path.join(args.out, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
        total += len(data)
        print(f"{name:22s} {len(data):8d} bytes {len(text):8d} chars")
    print(f"{'total':22s} {total:8d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
