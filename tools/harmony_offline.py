"""Points openai-harmony at the committed vocabulary, so golden scripts run offline.

openai-harmony downloads o200k_base.tiktoken unless TIKTOKEN_ENCODINGS_BASE names a folder that
holds it. Importing this module sets that variable to tests/data/tokenizer (unless it is
already set) before openai_harmony is imported anywhere.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB_DIR = os.path.join(ROOT, "tests", "data", "tokenizer")

if not os.environ.get("TIKTOKEN_ENCODINGS_BASE"):
    if not os.path.exists(os.path.join(VOCAB_DIR, "o200k_base.tiktoken")):
        sys.exit(f"{VOCAB_DIR}/o200k_base.tiktoken is missing; set TIKTOKEN_ENCODINGS_BASE")
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = VOCAB_DIR


def harmony_encoding():
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
