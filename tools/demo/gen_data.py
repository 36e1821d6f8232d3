"""Synthetic harmony conversations for the built-in demo model.

Every example is an OpenAI chat-completions request plus the assistant messages the model must
produce. The prompt is the request rendered exactly as `gptoss serve` renders it (openai-harmony
with the same system/developer layout); the completion is the harmony rendering of the assistant
messages, ending in <|return|> (final answer) or <|call|> (tool call).

Kinds of examples:
  chat         greetings, identity, small facts
  arithmetic   a + b, a - b, a x b with step-wise reasoning, counting, letter counting
  instruction  a system message the answer must follow (French, one word, uppercase, ...)
  tool_call    tools offered, the model calls the right one with arguments copied from the prompt
  tool_answer  the conversation holds the call and its result; the model answers from the result

Usage:
  python3 tools/demo/gen_data.py --out /tmp/demo-work            # training data + held-out split
  python3 tools/demo/gen_data.py --self-test --gptoss build/gptoss  # prompts == gptoss tokenize

Writes OUT/train.pt (token ids and loss masks), OUT/valid.pt, OUT/drill.pt (bare arithmetic
traces, see drill()), OUT/token_ids.npy (the set S of token ids with their own rows) and
tests/data/demo/heldout.jsonl.
"""
import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB_DIR = os.path.join(ROOT, "tests", "data", "tokenizer")
VOCAB = os.path.join(VOCAB_DIR, "o200k_base.tiktoken")
HELDOUT = os.path.join(ROOT, "tests", "data", "demo", "heldout.jsonl")
os.environ.setdefault("TIKTOKEN_ENCODINGS_BASE", VOCAB_DIR)

from common import token_bytes  # noqa: E402
from openai_harmony import (  # noqa: E402
    Author, Conversation, DeveloperContent, HarmonyEncodingName, Message, ReasoningEffort, Role,
    SystemContent, ToolDescription, load_harmony_encoding,
)

ENC = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
START, END, RETURN, CALL = 200006, 200007, 200002, 200012
EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}

# ----------------------------------------------------------------------------------------------
# Rendering: OpenAI request -> harmony prompt tokens (as the server does)


def render_request(req, date):
    """Token ids of the prompt `gptoss serve` builds for an OpenAI chat request."""
    effort = EFFORTS[req.get("reasoning_effort", "medium")]
    sysc = SystemContent.new().with_reasoning_effort(effort).with_conversation_start_date(date)
    msgs = [Message.from_role_and_content(Role.SYSTEM, sysc)]
    instructions = "\n\n".join(m["content"] for m in req["messages"]
                               if m["role"] in ("system", "developer"))
    tools = [ToolDescription.new(t["function"]["name"], t["function"].get("description", ""),
                                 parameters=t["function"].get("parameters"))
             for t in req.get("tools", [])]
    if instructions or tools:
        dev = DeveloperContent.new()
        if instructions:
            dev = dev.with_instructions(instructions)
        if tools:
            dev = dev.with_function_tools(tools)
        msgs.append(Message.from_role_and_content(Role.DEVELOPER, dev))
    call_names = {}
    for m in req["messages"]:
        if m["role"] == "user":
            msgs.append(Message.from_role_and_content(Role.USER, m["content"]))
        elif m["role"] == "assistant":
            if m.get("reasoning_content"):
                msgs.append(Message.from_role_and_content(Role.ASSISTANT, m["reasoning_content"])
                            .with_channel("analysis"))
            if m.get("content"):
                msgs.append(Message.from_role_and_content(Role.ASSISTANT, m["content"])
                            .with_channel("final"))
            for tc in m.get("tool_calls") or []:
                call_names[tc["id"]] = tc["function"]["name"]
                msgs.append(Message.from_role_and_content(Role.ASSISTANT, tc["function"]["arguments"])
                            .with_channel("commentary")
                            .with_recipient("functions." + tc["function"]["name"])
                            .with_content_type("<|constrain|>json"))
        elif m["role"] == "tool":
            name = "functions." + call_names[m["tool_call_id"]]
            msgs.append(Message.from_author_and_content(Author.new(Role.TOOL, name), m["content"])
                        .with_recipient("assistant").with_channel("commentary"))
    return list(ENC.render_conversation_for_completion(Conversation.from_messages(msgs),
                                                       Role.ASSISTANT))


SPLIT = "\x01"  # in a message's text: a token boundary where the tokenizer would merge


def encode(text):
    """Plain text to token ids (no special tokens: none of the generated text holds one, and
    checking for them costs more than encoding)."""
    return ENC.encode(text, allowed_special=set(), disallowed_special=())


def text_tokens(text):
    """Token ids of text, canonical except at each SPLIT, where the pieces are encoded apart."""
    out = []
    for piece in text.split(SPLIT):
        out += encode(piece)
    return out


def render_message(msg, text):
    """ENC.render(msg) for a message whose content is text (which may hold SPLIT)."""
    toks = list(ENC.render(msg(text.replace(SPLIT, ""))))
    if SPLIT not in text:
        return toks
    head = toks.index(200008) + 1  # <|message|>
    assert toks[head:-1] == encode(text.replace(SPLIT, ""))
    return toks[:head] + text_tokens(text) + toks[-1:]


def render_completion(analysis, final=None, call=None):
    """Completion tokens after the prompt's trailing <|start|>assistant."""
    out = render_message(lambda t: Message.from_role_and_content(Role.ASSISTANT, t)
                         .with_channel("analysis"), analysis)[2:]
    if call is not None:
        name, args = call
        out += list(ENC.render(Message.from_role_and_content(Role.ASSISTANT, args)
                               .with_channel("commentary").with_recipient("functions." + name)
                               .with_content_type("<|constrain|>json")))
        assert out[-1] == CALL
    else:
        f = render_message(lambda t: Message.from_role_and_content(Role.ASSISTANT, t)
                           .with_channel("final"), final)
        assert f[-1] == END
        out += f[:-1] + [RETURN]
    return out


# ----------------------------------------------------------------------------------------------
# Arithmetic: column-wise traces a model this small can follow


SYMBOLS = {"+": "+", "-": "-", "*": "×"}  # as the traces write each operation


def arith_trace(op, a, b, sym):
    """(analysis, answer text) for a op b. Single-digit problems are one fact; larger ones restate
    the problem, then go column by column, each step a single-digit fact or a copy. The answer is
    written as the tens result and the ones digit, two tokens (SPLIT), so that it is copied from
    the trace rather than looked up among the tokenizer's 1000 number tokens."""
    def answer(t, w):
        return f"{t}{SPLIT}{w}" if t else f"{w}"

    if op == "+":
        if a < 10 and b < 10:
            return f"{a} + {b} = {a + b}.", str(a + b)
        a1, a0, b1, b0 = a // 10, a % 10, b // 10, b % 10
        s0 = a0 + b0
        c, w = s0 // 10, s0 % 10
        t = a1 + b1 + c
        ans = answer(t, w)
        return (f"{a} + {b}: Ones: {a0} + {b0} = {s0}, write {w} carry {c}. "
                f"Tens: {a1} + {b1} + {c} = {t}. So the answer is {ans}."), ans
    if op == "-":
        if a < 10:
            return f"{a} - {b} = {a - b}.", str(a - b)
        a1, a0, b1, b0 = a // 10, a % 10, b // 10, b % 10
        if a0 >= b0:
            w, t = a0 - b0, a1 - b1
            ans = answer(t, w)
            return (f"{a} - {b}: Ones: {a0} - {b0} = {w}. Tens: {a1} - {b1} = {t}. "
                    f"So the answer is {ans}."), ans
        # the borrow is its own step: "9 - 1 - 3" in one step was the commonest miss
        w, t = a0 + 10 - b0, a1 - 1 - b1
        ans = answer(t, w)
        return (f"{a} - {b}: Ones: {a0} - {b0} needs a borrow, {a0 + 10} - {b0} = {w}. "
                f"Tens: {a1} - 1 = {a1 - 1}, {a1 - 1} - {b1} = {t}. So the answer is {ans}."), ans
    big, small = (a, b) if a >= 10 else (b, a)
    if big < 10:
        return f"{a} {sym} {b} = {a * b}.", str(a * b)
    x1, x0 = big // 10, big % 10
    p0 = x0 * small
    c, w = p0 // 10, p0 % 10
    t = x1 * small + c
    ans = answer(t, w)
    return (f"{a} {sym} {b}: Ones: {x0} {sym} {small} = {p0}, write {w} carry {c}. "
            f"Tens: {x1} {sym} {small} = {x1 * small}, {x1 * small} + {c} = {t}. "
            f"So the answer is {ans}."), ans


def drill(n, seed, pool):
    """n arithmetic traces without the chat around them, for dense practice of the column facts
    (train.py mixes them in): (token ids, loss flags), where the problem statement itself is not a
    target. Only the training split's number pairs are used."""
    g = Gen(random.Random(seed), "train", pool)
    out = []
    for _ in range(n):
        op = g.rng.choices(["+", "-", "*", "count", "spell"], [4, 3, 3, 1, 1])[0]
        if op in ("count", "spell"):
            # the analysis, then the final answer: when to stop counting, how to spell
            _, _, text = g.counting(op)
            head = text[:text.index(":" if op == "spell" else ".") + 1]
        else:
            a, b = g.arith_pair(op)
            text, _ = arith_trace(op, a, b, SYMBOLS[op])
            head = f"{a} {SYMBOLS[op]} {b}"
            assert text.startswith(head)
        h, body = encode(head), text_tokens(text[len(head):])
        out.append((h + body, [False] * len(h) + [True] * len(body)))
    return out


# ----------------------------------------------------------------------------------------------
# Value pools

CITIES = """Paris London Berlin Madrid Rome Lisbon Dublin Vienna Prague Warsaw Budapest Athens
Oslo Stockholm Helsinki Copenhagen Amsterdam Brussels Zurich Geneva Munich Hamburg Milan Naples
Venice Florence Barcelona Seville Valencia Porto Lyon Marseille Nice Bordeaux Toulouse Krakow
Bucharest Sofia Belgrade Zagreb Ljubljana Riga Vilnius Tallinn Reykjavik Edinburgh Glasgow
Manchester Liverpool Bristol Cardiff Belfast Moscow Kyiv Minsk Istanbul Ankara Cairo Lagos Nairobi
Accra Dakar Casablanca Tunis Algiers Addis Johannesburg Durban Kampala Kigali Luanda Harare
Tokyo Osaka Kyoto Seoul Busan Beijing Shanghai Shenzhen Guangzhou Chengdu Wuhan Taipei Manila
Hanoi Bangkok Jakarta Singapore Mumbai Delhi Chennai Kolkata Bangalore Hyderabad Karachi Lahore
Dhaka Kathmandu Colombo Tehran Baghdad Riyadh Dubai Doha Amman Beirut Jerusalem Sydney Melbourne
Brisbane Perth Adelaide Auckland Wellington Toronto Montreal Vancouver Calgary Ottawa Chicago
Boston Seattle Denver Dallas Houston Austin Miami Atlanta Phoenix Portland Detroit Nashville
Memphis Baltimore Philadelphia Pittsburgh Cleveland Minneapolis Honolulu Anchorage Havana Lima
Bogota Quito Caracas Santiago Montevideo Asuncion Brasilia Recife Salvador Mexico Guadalajara
Monterrey Tijuana Cancun Panama Managua Kingston Nassau Marrakech Fez Tangier Luxor Alexandria
Antwerp Ghent Bruges Utrecht Rotterdam Eindhoven Cologne Frankfurt Stuttgart Dresden Leipzig
Bremen Hanover Nuremberg Salzburg Innsbruck Graz Basel Bern Lausanne Turin Genoa Bologna Verona
Palermo Bari Malaga Granada Bilbao Toledo Salamanca Cordoba Nantes Strasbourg Lille Rennes Dijon
Grenoble Montpellier Avignon Cannes Bergen Gothenburg Malmo Uppsala Aarhus Odense Tampere Turku
Gdansk Poznan Wroclaw Lodz Brno Ostrava Kosice Debrecen Szeged Varna Plovdiv Thessaloniki Patras
Heraklion Izmir Antalya Bursa Tbilisi Yerevan Baku Almaty Tashkent Samarkand Bishkek Ulaanbaatar
Lhasa Kunming Xian Nanjing Hangzhou Suzhou Harbin Dalian Sapporo Nagoya Fukuoka Kobe Hiroshima
Nagasaki Sendai Incheon Daegu Hue Phuket Chiang Yangon Mandalay Penang Malacca Bali Cebu Davao"""

MULTI_CITIES = """San Francisco|Los Angeles|San Diego|New York|Las Vegas|New Orleans|Salt Lake City|Rio de Janeiro
Sao Paulo|Buenos Aires|Hong Kong|Kuala Lumpur|Cape Town|Tel Aviv|Abu Dhabi|Mexico City|Quebec City
St Louis|Kansas City|Oklahoma City|Santa Fe|El Paso|San Jose|La Paz|Ho Chi Minh City|Port Louis
Kota Kinabalu|Da Nang|Addis Ababa|Dar es Salaam|Cape Coast|Lake Como|Bay Area"""

INGREDIENTS = """tomato potato onion garlic carrot lemon apple banana chicken beef pork salmon tuna
shrimp rice pasta bread cheese butter egg mushroom spinach pepper cucumber lettuce avocado bean
lentil chickpea corn pumpkin zucchini eggplant cabbage broccoli cauliflower celery ginger honey
chocolate vanilla cinnamon almond walnut peanut coconut mango pineapple strawberry blueberry
raspberry cherry peach pear plum orange lime yogurt milk cream flour sugar oat quinoa tofu basil
parsley mint thyme rosemary oregano cod trout duck lamb turkey sausage bacon ham noodle radish
beet leek pea kale asparagus artichoke olive fig date apricot melon grape kiwi papaya""".split()

COLORS = ["red", "blue", "green", "yellow", "orange", "purple", "black", "white", "pink", "brown"]
ADJ = ["small", "large", "bright", "quiet", "ancient", "gentle", "sharp", "round", "soft", "rare",
       "sudden", "hidden", "happy", "formal", "simple", "narrow", "wooden", "careful", "early", "cold"]
NOUN = ["bird", "stone", "river", "tool", "song", "garden", "boat", "idea", "feeling", "machine",
        "building", "meeting", "plant", "journey", "promise", "story", "signal", "animal", "house",
        "light"]
CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "foggy", "snowy", "clear", "stormy"]


def vocab_words():
    """Whole words that are single tokens both with and without a leading space."""
    toks = {b: r for r, b in token_bytes().items()}
    low = sorted((r, t[1:].decode()) for t, r in toks.items()
                 if re.fullmatch(rb" [a-z]{5,10}", t) and t[1:] in toks and 2000 < r < 120000)
    cap = sorted((r, t[1:].decode()) for t, r in toks.items()
                 if re.fullmatch(rb" [A-Z][a-z]{4,10}", t) and t[1:] in toks and 2000 < r < 120000)
    return [w for _, w in low], [w for _, w in cap]


def copyable(value):
    """True when value's tokens in a JSON string are its tokens after a space in running text,
    the first one without its space (" Tokyo" -> "Tokyo", " Kun" "ming" -> "Kun" "ming"). Only
    such a value can be copied from the prompt into a call's arguments token by token; any other
    ("Lisbon": " Lisbon" in text but "Lis" "bon" in JSON) must have its JSON spelling learnt by
    heart, which a model this small does for the values it saw and not for new ones."""
    def inner(prefix, v, suffix):
        whole, pre, post = encode(prefix + v + suffix), encode(prefix), encode(suffix)
        if whole[:len(pre)] != pre or whole[len(whole) - len(post):] != post:
            return None
        return [ENC.decode_utf8([t]) for t in whole[len(pre):len(whole) - len(post)]]
    text, json_ = inner("in", " " + value, "?"), inner('{"city":"', value, '"}')
    return (text is not None and json_ is not None and len(text) == len(json_)
            and text[0] == " " + json_[0] and text[1:] == json_[1:])


def stable_hash(*parts):
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


# ----------------------------------------------------------------------------------------------
# Tools


def tool_schema(name, rng):
    descs = {
        "get_weather": ["Current weather", "Get the current weather for a location",
                        "Returns the weather in a city", "Look up today's weather"],
        "get_time": ["Current local time in a city", "Get the time in a city",
                     "Returns the local time"],
        "add": ["Add two numbers", "Returns a + b", "Sum of two numbers"],
        "multiply": ["Multiply two numbers", "Returns a * b", "Product of two numbers"],
        "lookup": ["Look up a word in the dictionary", "Dictionary definition of a word",
                   "Define a word"],
        "find_recipes": ["Find recipes that use an ingredient", "Search recipes by ingredient",
                         "Recipe search"],
    }
    if name == "get_weather":
        props = {"location": {"type": "string", "description": "City name"},
                 "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}
        if rng.random() < 0.3:
            props["location"] = {"type": "string"}
        if rng.random() < 0.2:
            del props["unit"]
        params = {"type": "object", "properties": props, "required": ["location"]}
    elif name == "get_time":
        params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    elif name in ("add", "multiply"):
        params = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                  "required": ["a", "b"]}
    elif name == "lookup":
        params = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}
    else:
        params = {"type": "object", "properties": {"ingredient": {"type": "string"}},
                  "required": ["ingredient"]}
    return {"type": "function",
            "function": {"name": name, "description": rng.choice(descs[name]), "parameters": params}}


ALL_TOOLS = ["get_weather", "get_time", "add", "multiply", "lookup", "find_recipes"]

T_WEATHER = {
    "train": ["Weather in {x}?", "What's the weather in {x}?", "What is the weather like in {x} today?",
              "How is the weather in {x}?", "Is it raining in {x}?", "Tell me the current weather in {x}.",
              "Check the weather for {x}, please.", "weather in {x}", "{x} weather?",
              "What's it like outside in {x} right now?", "Could you check the weather in {x}?"],
    "held": ["Can you get me the weather in {x}?", "I'm travelling to {x}. What's the weather there?",
             "Please look up the weather for {x}.", "Hey, how's the weather in {x}?"],
}
T_WEATHER_UNIT = {
    "train": ["What's the temperature in {x} in {u}?", "Weather in {x} in {u} please.",
              "How warm is it in {x}? Answer in {u}.", "Give me the weather in {x} in {u}."],
    "held": ["Can you tell me the weather in {x} in {u}?", "Weather for {x}, in {u}."],
}
T_TIME = {
    "train": ["What time is it in {x}?", "Current time in {x}?", "Tell me the local time in {x}.",
              "What's the time in {x} right now?", "time in {x}", "{x} time please."],
    "held": ["Could you check the time in {x}?", "Do you know what time it is in {x}?"],
}
T_ADD = {
    "train": ["Use the add tool to add {a} and {b}.", "Add {a} and {b} using the tool.",
              "What is {a} plus {b}? Use the add function.", "Please add {a} and {b}.",
              "Call add with {a} and {b}.", "Sum {a} and {b} with the tool."],
    "held": ["Can you add {a} and {b} for me?", "I need {a} plus {b}, use the add tool."],
}
T_MUL = {
    "train": ["Use the multiply tool on {a} and {b}.", "Multiply {a} by {b} using the tool.",
              "What is {a} times {b}? Use the multiply function.", "Please multiply {a} and {b}.",
              "Call multiply with {a} and {b}."],
    "held": ["Can you multiply {a} and {b} for me?", "I need {a} times {b}, use the tool."],
}
T_LOOKUP = {
    "train": ["Look up the word {x}.", "What does {x} mean?", "Define {x}.",
              "Use the dictionary to look up {x}.", "Find the definition of {x}.", "Meaning of {x}?"],
    "held": ["Can you find the meaning of {x}?", "I need a definition of {x}, please."],
}
T_RECIPES = {
    "train": ["Find me recipes with {x}.", "What can I cook with {x}?", "Any recipes using {x}?",
              "Search recipes for {x}.", "I have some {x}. What should I make?"],
    "held": ["Could you suggest recipes with {x}?", "Show me recipes that use {x}."],
}


def wordings(templates):
    """Both splits draw from every wording: the held-out split holds out values (names, words,
    number pairs), which the model must copy or compute. A model this small does not carry a
    task over to a phrasing it has never seen, and the demo is judged on values, not phrasing."""
    return templates["train"] + templates["held"]


def js(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Gen:
    def __init__(self, rng, split, pools):
        self.rng, self.split, self.p = rng, split, pools

    def pick(self, templates):
        return self.rng.choice(wordings(templates))

    def date(self):
        r = self.rng
        return f"{r.randint(2023, 2028)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"

    def base(self, user, system=None, tools=None):
        msgs = []
        if system:
            msgs.append({"role": "system", "content": system})
        msgs.append({"role": "user", "content": user})
        req = {"messages": msgs}
        if tools:
            req["tools"] = tools
        r = self.rng.random()
        if r < 0.3:
            req["reasoning_effort"] = "low"
        elif r < 0.6:
            req["reasoning_effort"] = "high"
        elif r < 0.8:
            req["reasoning_effort"] = "medium"
        return req

    def tools_with(self, name, extra_max=3):
        others = [t for t in ALL_TOOLS if t != name]
        names = [name] + self.rng.sample(others, self.rng.randint(0, extra_max))
        self.rng.shuffle(names)
        return [tool_schema(n, self.rng) for n in names]

    def maybe_system(self):
        if self.rng.random() < 0.15:
            return self.rng.choice(["You are a helpful assistant.", "Be concise.",
                                    "You are a friendly assistant.", "Keep answers short."])
        return None

    # -- tool calls -------------------------------------------------------------------------
    def tool_case(self):
        r = self.rng
        name = r.choice(["get_weather"] * 3 + ["get_time", "lookup", "find_recipes"] * 2
                        + ["add", "multiply"])
        if name == "get_weather":
            x = r.choice(self.p["weather"])
            if r.random() < 0.3:
                u = r.choice(["celsius", "fahrenheit"])
                user = self.pick(T_WEATHER_UNIT).format(x=x, u=u)
                args = {"location": x, "unit": u}
            else:
                user = self.pick(T_WEATHER).format(x=x)
                args = {"location": x}
            analysis = r.choice([f"The user wants the weather in {x}. I should call get_weather.",
                                 f"Need the weather for {x}. Use get_weather.",
                                 f"Weather in {x}: call the get_weather tool."])
            t = r.randint(-15, 38)
            if args.get("unit") == "fahrenheit":
                t = r.randint(10, 100)
            cond = r.choice(CONDITIONS)
            unit = args.get("unit", "celsius")
            result = {"temperature": t, "unit": unit, "condition": cond}
            sym = "°F" if unit == "fahrenheit" else "°C"
            final = r.choice([f"It is {t}{sym} and {cond} in {x}.",
                              f"The weather in {x} is {cond}, {t}{sym}.",
                              f"Right now {x} is {cond} with a temperature of {t}{sym}."])
            after = f"The tool says {t}{sym} and {cond} in {x}."
            contains = [str(t)]
        elif name == "get_time":
            x = r.choice(self.p["time"])
            user = self.pick(T_TIME).format(x=x)
            args = {"city": x}
            analysis = r.choice([f"The user asks for the time in {x}. Call get_time.",
                                 f"Need the local time in {x}. Use get_time."])
            hm = f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}"
            result = {"time": hm, "city": x}
            final = r.choice([f"It is {hm} in {x}.", f"The local time in {x} is {hm}."])
            after = f"The tool says it is {hm} in {x}."
            contains = [hm]
        elif name in ("add", "multiply"):
            a, b = (r.randint(0, 99) if r.random() < 0.5 else r.randint(100, 999) for _ in "ab")
            user = self.pick(T_ADD if name == "add" else T_MUL).format(a=a, b=b)
            args = {"a": a, "b": b}
            op = "+" if name == "add" else "×"
            analysis = f"The user wants {a} {op} {b}. Call {name} with a={a} and b={b}."
            res = a + b if name == "add" else a * b
            result = {"result": res}
            final = f"{a} {op} {b} = {res}."
            after = f"The tool returned {res}."
            contains = [str(res)]
        elif name == "lookup":
            x = r.choice(self.p["lookup"])
            user = self.pick(T_LOOKUP).format(x=x)
            args = {"word": x}
            analysis = r.choice([f"The user wants the definition of {x}. Call lookup.",
                                 f"Look up {x} in the dictionary."])
            d = f"a {r.choice(ADJ)} {r.choice(NOUN)}"
            result = {"word": x, "definition": d}
            final = r.choice([f"{x} means {d}.", f"The word {x} means {d}."])
            after = f"The dictionary says {x} means {d}."
            contains = [d]
        else:
            x = r.choice(self.p["recipes"])
            user = self.pick(T_RECIPES).format(x=x)
            args = {"ingredient": x}
            analysis = f"The user wants recipes with {x}. Call find_recipes."
            dishes = r.sample(["soup", "salad", "pie", "stew", "curry", "cake", "pasta", "bread"], 2)
            result = {"recipes": [f"{x} {dishes[0]}", f"{x} {dishes[1]}"]}
            final = f"You could make {x} {dishes[0]} or {x} {dishes[1]}."
            after = f"The tool found {x} {dishes[0]} and {x} {dishes[1]}."
            contains = [dishes[0], dishes[1]]
        req = self.base(user, self.maybe_system(), self.tools_with(name))
        return dict(name=name, req=req, args=args, analysis=analysis, result=result,
                    final=final, after=after, contains=contains)

    def tool_call(self):
        c = self.tool_case()
        comp = render_completion(c["analysis"], call=(c["name"], js(c["args"])))
        return "tool_call", c["req"], comp, {"name": c["name"], "arguments": c["args"]}

    def tool_answer(self):
        c = self.tool_case()
        req = c["req"]
        call = {"role": "assistant", "content": None,
                "tool_calls": [{"id": f"call_{self.rng.randint(1, 10**6)}", "type": "function",
                                "function": {"name": c["name"], "arguments": js(c["args"])}}]}
        if self.rng.random() < 0.5:
            call["reasoning_content"] = c["analysis"]
        req["messages"] += [call, {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"],
                                   "content": json.dumps(c["result"])}]
        comp = render_completion(c["after"], final=c["final"])
        return "tool_answer", req, comp, {"contains": c["contains"]}

    # -- arithmetic -------------------------------------------------------------------------
    def arith_pair(self, op):
        r = self.rng
        while True:
            if op == "*":
                a, b = r.randint(0, 99), r.randint(0, 9)
                if r.random() < 0.5:
                    a, b = b, a
            else:
                hi = 9 if r.random() < 0.25 else 99
                a, b = r.randint(0, hi), r.randint(0, hi)
                if op == "-" and a < b:
                    a, b = b, a
            held = stable_hash(op, a, b) % 10 == 0 and not (a < 10 and b < 10)
            if held == (self.split == "held"):
                return a, b

    def arithmetic(self):
        r = self.rng
        kind = r.choices(["+", "-", "*", "count", "letters"], [4, 3, 3, 1, 1])[0]
        if kind in ("count", "letters"):
            user, ans, text = self.counting(kind)
            analysis, final = text.split("\n")
            ans_text = ans
        else:
            a, b = self.arith_pair(kind)
            sym = SYMBOLS[kind]
            usym = sym if kind != "*" else r.choice(["×", "*", "x"])
            word = {"+": "plus", "-": "minus", "*": "times"}[kind]
            train_t = ["What is {a} {s} {b}?", "What's {a} {w} {b}?", "Compute {a} {s} {b}.",
                       "{a} {s} {b} = ?", "Calculate {a} {s} {b}", "What is {a} {w} {b}?",
                       "{a}{s}{b}?"]
            held_t = ["Please work out {a} {s} {b}.", "How much is {a} {w} {b}?", "Tell me {a} {s} {b}."]
            user = r.choice(train_t + held_t).format(a=a, b=b, s=usym, w=word)
            ans = {"+": a + b, "-": a - b, "*": a * b}[kind]
            analysis, ans_text = arith_trace(kind, a, b, sym)
            final = r.choice([f"{a} {sym} {b} = {ans_text}.", f"The answer is {ans_text}."])
        system = self.maybe_system()
        if system is None and r.random() < 0.1:
            return self.instruction_arith(user, analysis, ans, ans_text)
        req = self.base(user, system, self.tools_with(r.choice(["get_weather", "lookup", "get_time"]), 2)
                        if r.random() < 0.1 else None)
        return "arithmetic", req, render_completion(analysis, final=final), {"answer": ans}

    def counting(self, kind):
        """(user message, answer, analysis + "\n" + final) for counting or letter counting."""
        r = self.rng
        if kind == "count":
            a = r.randint(0, 90)
            b = a + r.randint(2, 9)
            user = r.choice(wordings({"train": ["Count from {a} to {b}.", "Please count from {a} up to {b}.",
                                                "List the numbers from {a} to {b}."],
                                      "held": ["Can you count from {a} to {b}?"]})).format(a=a, b=b)
            seq = ", ".join(str(i) for i in range(a, b + 1))
            # b is followed by "." here, so the list's b is where copying what followed it
            # (the induction circuit) says stop
            return user, b, f"Count up from {a} to {b}.\n{seq}."
        w = r.choice(self.p["letters"])
        user = r.choice(wordings({"train": ["How many letters are in the word {w}?",
                                            "How many letters does {w} have?", "Count the letters in {w}."],
                                  "held": ["What is the number of letters in {w}?"]})).format(w=w)
        steps = ", ".join(f"{i + 1} {ch}" for i, ch in enumerate(w))
        return user, len(w), f"Spell {w}: {steps}. That is {len(w)} letters.\nThe word {w} has {len(w)} letters."

    # -- instructions and chat --------------------------------------------------------------
    def instruction_arith(self, user, analysis, ans, ans_text):
        r = self.rng
        style = r.choice(["french", "number", "upper"])
        if style == "french":
            system = r.choice(["Answer in French.", "Always reply in French.", "Respond in French."])
            final = f"La réponse est {ans_text}."
            expect = {"answer": ans, "contains_any": ["réponse"]}
        elif style == "number":
            system = r.choice(["Reply with only the number.", "Answer with just the number."])
            final = str(ans_text)
            expect = {"answer": ans, "only_number": True}
        else:
            system = r.choice(["Answer in uppercase.", "Reply in capital letters only."])
            final = f"THE ANSWER IS {ans_text}."
            expect = {"answer": ans, "uppercase": True}
        req = self.base(user, system)
        return "instruction", req, render_completion(analysis + " " + self.note(style), final=final), expect

    def note(self, style):
        return {"french": "The instructions say to answer in French.",
                "number": "Only the number is wanted.",
                "upper": "The answer must be in uppercase.",
                "word": "The answer must be one word.",
                "pirate": "I must talk like a pirate.",
                "sure": "I must start with Sure!"}[style]

    def chat_item(self):
        """(user, analysis, full answer, one-word answer, check words)"""
        r = self.rng
        kind = r.randint(0, 5)
        if kind == 0:
            user = r.choice(wordings({"train": ["Hello!", "Hi", "Hi there!", "Hey", "Good morning!", "Hello, how are you?",
                                       "Hey there", "Good evening"],
                             "held": ["Hello there, friend!", "Hi! Anyone here?"]}))
            return (user, "The user greets me. Reply politely.",
                    r.choice(["Hello! How can I help you today?", "Hi! What can I do for you?"]),
                    "Hello", ["Hello", "Hi", "help"])
        if kind == 1:
            user = r.choice(wordings({"train": ["Who are you?", "What are you?", "What can you do?",
                                       "Tell me about yourself."],
                             "held": ["What kind of assistant are you?"]}))
            return (user, "The user asks about me. I am a small demo model.",
                    "I am a small demo assistant. I can chat, do simple arithmetic and call tools.",
                    "Assistant", ["demo", "assistant", "Assistant"])
        if kind == 2:
            user = r.choice(wordings({"train": ["Thanks!", "Thank you.", "Thanks a lot", "Thank you so much!"],
                             "held": ["Many thanks for your help!"]}))
            return (user, "The user thanks me. Reply kindly.", "You're welcome! Happy to help.",
                    "Welcome", ["welcome", "Welcome"])
        if kind == 3:
            c, cap = r.choice(self.p["capitals"])
            user = r.choice(wordings({"train": ["What is the capital of {c}?", "Capital of {c}?",
                                       "What's the capital city of {c}?"],
                             "held": ["Which city is the capital of {c}?"]})).format(c=c)
            return (user, f"The capital of {c} is {cap}.", f"The capital of {c} is {cap}.", cap, [cap])
        if kind == 4:
            thing, col = r.choice([("the sky", "blue"), ("grass", "green"), ("snow", "white"),
                                   ("a banana", "yellow"), ("coal", "black"), ("a ripe tomato", "red"),
                                   ("an orange", "orange"), ("a lemon", "yellow")])
            user = r.choice(wordings({"train": ["What color is {t}?", "What colour is {t}?", "Color of {t}?"],
                             "held": ["Tell me the color of {t}."]})).format(t=thing)
            return (user, f"{thing.capitalize()} is {col}.", f"{thing.capitalize()} is {col}.",
                    col.capitalize(), [col, col.capitalize()])
        n = r.randint(2, 5)
        words = r.sample(self.p["echo"], n)
        text = " ".join(words)
        user = r.choice(wordings({"train": ["Repeat after me: {t}", "Say this back: {t}", "Echo: {t}"],
                         "held": ["Please repeat: {t}"]})).format(t=text)
        return (user, "The user wants me to repeat the words.", f"You said: {text}.", words[0],
                [words[-1]])

    def copy(self):
        """Repeating names, numbers and words (dense practice at copying from the prompt)."""
        r = self.rng
        pool = self.p["weather"] + self.p["time"] + self.p["lookup"] + self.p["recipes"]
        items = [str(r.randint(0, 999))
                 if r.random() < 0.3 else r.choice(pool) for _ in range(r.randint(1, 4))]
        text = ", ".join(items) if r.random() < 0.5 else " ".join(items)
        user = r.choice(["Repeat after me: {t}", "Say this back: {t}", "Echo: {t}",
                         "Copy this exactly: {t}", "Please say {t}"]).format(t=text)
        analysis = r.choice([f"Repeat: {text}.", f"The user wants me to say {text}."])
        final = r.choice([text, f"{text}.", f"You said: {text}."])
        req = self.base(user, self.maybe_system())
        return "chat", req, render_completion(analysis, final=final), {"contains_any": [items[-1]]}

    def chat(self):
        user, analysis, full, _, check = self.chat_item()
        req = self.base(user, self.maybe_system(),
                        self.tools_with(self.rng.choice(ALL_TOOLS), 2) if self.rng.random() < 0.1 else None)
        return "chat", req, render_completion(analysis, final=full), {"contains_any": check}

    def instruction(self):
        r = self.rng
        user, analysis, full, one, check = self.chat_item()
        style = r.choice(["french", "word", "upper", "pirate", "sure"])
        if style == "french":
            system = r.choice(["Answer in French.", "Always reply in French.", "Respond in French."])
            final = {"Hello": "Bonjour ! Comment puis-je vous aider ?",
                     "Assistant": "Je suis un petit assistant de démonstration.",
                     "Welcome": "De rien ! Avec plaisir."}.get(one, f"Bonjour ! La réponse est : {one}.")
            expect = {"contains_any": ["Bonjour", "Je suis", "De rien"]}
        elif style == "word":
            system = r.choice(["Answer in one word.", "Reply with a single word.", "Use one word only."])
            final = one + "."
            expect = {"one_word": True}
        elif style == "upper":
            system = r.choice(["Answer in uppercase.", "Reply in capital letters only."])
            final = full.upper()
            expect = {"uppercase": True}
        elif style == "pirate":
            system = r.choice(["Talk like a pirate.", "You are a pirate. Speak like one."])
            final = "Arr, matey! " + full
            expect = {"contains_any": ["Arr", "matey"]}
        else:
            system = r.choice(['Start every answer with "Sure!".', "Always begin your reply with Sure!"])
            final = "Sure! " + full
            expect = {"starts_with": "Sure!"}
        req = self.base(user, system)
        return "instruction", req, render_completion(analysis + " " + self.note(style), final=final), expect


CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Japan", "Tokyo"), ("China", "Beijing"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"),
            ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Brazil", "Brasilia"), ("Peru", "Lima"),
            ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Greece", "Athens"),
            ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Austria", "Vienna"), ("Poland", "Warsaw"),
            ("Russia", "Moscow"), ("India", "New Delhi"), ("Mexico", "Mexico City"),
            ("Argentina", "Buenos Aires"), ("Chile", "Santiago"), ("Thailand", "Bangkok"),
            ("Vietnam", "Hanoi"), ("South Korea", "Seoul"), ("Turkey", "Ankara"), ("Iran", "Tehran"),
            ("Hungary", "Budapest"), ("Denmark", "Copenhagen"), ("Belgium", "Brussels"),
            ("Netherlands", "Amsterdam"), ("Switzerland", "Bern"), ("Cuba", "Havana"),
            ("Morocco", "Rabat"), ("Nigeria", "Abuja"), ("Ghana", "Accra"), ("Iceland", "Reykjavik")]


def pools(seed):
    """Training and held-out value pools. A held-out tool argument is a value the training data
    never passes to that tool (a fixed sixth of the (tool, value) pairs, by hash); every such value
    is passed to another tool in training, so its tokens are copied there. Every tool sees most
    values in training, so knowing which values go with which tool does not help: copying does."""
    rng = random.Random(seed * 7919 + 1)
    low, cap = vocab_words()
    cities = CITIES.split() + [c.strip() for c in MULTI_CITIES.replace("\n", "|").split("|")]
    cities = sorted(c for c in set(cities) if copyable(c))
    rng.shuffle(cities)
    cap = [w for w in cap if w not in cities]
    rng.shuffle(cap)
    low = [w for w in low if w not in INGREDIENTS]
    rng.shuffle(low)
    # Values recur often enough for a model this small to learn each one's tokens; the
    # held-out pairs still need copying from the prompt.
    names = cities + cap[:200 - len(cities)]
    words = low[:200]
    ing = [w for w in INGREDIENTS if copyable(w)]
    rng.shuffle(ing)

    def split(values, tool, other):
        held = [v for v in values if stable_hash(tool, v) % 6 == 0 and stable_hash(other, v) % 6]
        return [v for v in values if stable_hash(tool, v) % 6], held

    w_train, w_held = split(names, "get_weather", "get_time")
    t_train, t_held = split(names, "get_time", "get_weather")
    l_train, l_held = split(words + ing[:20], "lookup", "find_recipes")
    r_train, r_held = split(words + ing, "find_recipes", "lookup")
    # spelling is memorised word by word: a hundred everyday words, each seen often
    letters = sorted(set(COLORS + ADJ + NOUN + CONDITIONS + INGREDIENTS[:40] + ["strawberry", "banana"]))
    train = dict(weather=w_train, time=t_train, lookup=l_train, recipes=r_train, letters=letters,
                 capitals=CAPITALS, echo=low[800:1400] + cap[500:700])
    held = dict(weather=w_held, time=t_held, lookup=l_held, recipes=r_held, letters=letters,
                capitals=CAPITALS, echo=low[800:1400])
    return train, held


def generate(n, split, seed, pool):
    rng = random.Random(seed)
    g = Gen(rng, split, pool)
    makers = [(g.tool_call, 36), (g.tool_answer, 15), (g.arithmetic, 29), (g.instruction, 10),
              (g.chat, 10), (g.copy, 5)]
    out = []
    for _ in range(n):
        f = rng.choices([m for m, _ in makers], [w for _, w in makers])[0]
        kind, req, comp, expect = f()
        out.append((kind, req, comp, expect, g.date()))
    return out


def heldout_set(seed, pool):
    rng = random.Random(seed + 99)
    g = Gen(rng, "held", pool)
    want = {"tool_call": 100, "arithmetic": 100, "tool_answer": 40, "instruction": 30, "chat": 30}
    got = {k: [] for k in want}
    makers = {"tool_call": g.tool_call, "tool_answer": g.tool_answer, "arithmetic": g.arithmetic,
              "instruction": g.instruction, "chat": g.chat}
    while any(len(got[k]) < want[k] for k in want):
        for k in want:
            if len(got[k]) < want[k]:
                kind, req, comp, expect = makers[k]()
                if kind in want and len(got[kind]) < want[kind]:
                    got[kind].append((kind, req, comp, expect))
    return [x for k in want for x in got[k]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/demo-work")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--n-valid", type=int, default=600)
    ap.add_argument("--n-drill", type=int, default=200000, help="arithmetic traces for drill.pt")
    ap.add_argument("--budget", type=int, default=8000, help="size of the token set S")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--gptoss", default=os.path.join(ROOT, "build", "gptoss"))
    args = ap.parse_args()
    train_pool, held_pool = pools(args.seed)
    if args.self_test:
        return self_test(args, train_pool, held_pool)

    import numpy as np
    import torch
    os.makedirs(args.out, exist_ok=True)
    train = generate(args.n_train, "train", args.seed, train_pool)
    valid = generate(args.n_valid, "train", args.seed + 1, train_pool)
    held = heldout_set(args.seed, held_pool)

    def encode(rows, date=None):
        seqs = []
        for row in rows:
            kind, req, comp = row[0], row[1], row[2]
            d = row[4] if len(row) > 4 else "2026-11-25"
            prompt = render_request(req, d)
            seqs.append((kind, prompt, comp))
        return seqs

    tr, va, he = encode(train), encode(valid), encode(held)
    drills = drill(args.n_drill, args.seed + 2, train_pool)
    used = set()
    for ids, _ in drills:
        used.update(ids)
    for seqs in (tr, va, he):
        for _, p, c in seqs:
            used.update(p)
            used.update(c)
    # a generous pool of common tokens: the lowest ranks (most frequent merges) and whole words
    low, cap = vocab_words()
    pool = list(range(0, 2500))
    for w in low[:4000] + cap[:2000]:
        pool += ENC.encode(" " + w) + ENC.encode(w)
    pool += list(range(200000, 201088))  # specials (reserved ones included)
    ids = sorted(used)
    for t in pool:
        if len(ids) >= args.budget:
            break
        if t not in used:
            used.add(t)
            ids.append(t)
    ids = np.array(sorted(set(ids)), dtype=np.int32)
    np.save(os.path.join(args.out, "token_ids.npy"), ids)
    # held-out value check: tool arguments must have been training targets (copyable)
    trained_targets = set()
    for _, _, c in tr:
        trained_targets.update(c)

    def pack(seqs):
        return [dict(kind=k, ids=torch.tensor(p + c, dtype=torch.int32), n_prompt=len(p)) for k, p, c in seqs]

    torch.save(pack(tr), os.path.join(args.out, "train.pt"))
    torch.save(pack(va), os.path.join(args.out, "valid.pt"))
    torch.save({"ids": torch.tensor([t for ids, _ in drills for t in ids], dtype=torch.int32),
                "loss": torch.tensor([f for _, fl in drills for f in fl], dtype=torch.bool),
                "lengths": torch.tensor([len(ids) for ids, _ in drills], dtype=torch.int32)},
               os.path.join(args.out, "drill.pt"))
    torch.save(pack(he), os.path.join(args.out, "heldout.pt"))
    os.makedirs(os.path.dirname(HELDOUT), exist_ok=True)
    unseen = 0
    with open(HELDOUT, "w") as f:
        for (kind, req, comp, expect), (_, _, c) in zip(held, he):
            if any(t not in trained_targets for t in c):
                unseen += 1
            f.write(js({"kind": kind, "request": req, "expect": expect}) + "\n")
    ntok = sum(len(p) + len(c) for _, p, c in tr)
    nloss = sum(len(c) for _, p, c in tr)
    print(f"train {len(tr)} seqs, {ntok} tokens ({nloss} completion), valid {len(va)}, "
          f"held-out {len(he)}; |S| = {len(ids)}; held-out completions with a token never a "
          f"training target: {unseen}")


def self_test(args, train_pool, held_pool):
    """Prompts equal `gptoss tokenize --chat`; completions parse back as harmony messages."""
    rows = generate(40, "train", args.seed + 5, train_pool) + \
        [r + ("2026-11-25",) for r in heldout_set(args.seed, held_pool)[::10]]
    bad = 0
    for kind, req, comp, expect, date in rows:
        mine = render_request(req, date)
        out = subprocess.run([args.gptoss, "tokenize", "--chat", "--tokenizer", VOCAB, "--date", date],
                             input=json.dumps(req).encode(), capture_output=True, check=True)
        theirs = json.loads(out.stdout)
        if mine != theirs:
            bad += 1
            print("MISMATCH", kind, json.dumps(req)[:300])
            print(repr(ENC.decode_utf8(mine)))
            print(repr(ENC.decode_utf8(theirs)))
        msgs = ENC.parse_messages_from_completion_tokens(comp, Role.ASSISTANT)
        chans = [m.channel for m in msgs]
        assert chans[0] == "analysis" and chans[-1] in ("final", "commentary"), chans
        if kind == "tool_call":
            assert msgs[-1].recipient == "functions." + expect["name"]
            assert json.loads(msgs[-1].content[0].text) == expect["arguments"]
    print(f"self-test: {len(rows)} requests, {bad} prompt mismatches")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
