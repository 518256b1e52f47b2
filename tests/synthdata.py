"""Synthetic stand-ins for the shared data (../shared/data, ../shared/corpus), for the tests that need
*some* task rows or *some* text rather than the real ones, so that they run where the shared data is absent.

- `write_data_dir(root)`: a task data dir, `<root>/<task>/<split>.jsonl.gz` for every split the catalog
  lists, with rows in the real tasks' schemas: OCNLI/CMNLI sentence pairs, CINLID idiom pairs, AFQMC
  question pairs (string labels), ChnSentiCorp reviews (integer labels), TNEWS headlines with keywords
  and label codes, C3 dialogues with choices, CMRC2018 and DRCD passages with answer spans, ChID idiom
  clozes.
  Labels are the catalog's, so `weprompt.data` annotates `label_id` as on real rows.
- `mixed_texts()`: a stand-in for tests/pretrain's slice of the real corpus with the same layout
  (200 short poems, 6 long novel-like chapters, 120 medical-forum posts, 60 English news articles).
- `corpus_docs(n)`: documents in the corpus files' schema (text, source, lang, repo, path, title).

The Chinese is made of a few hundred real words and a few thousand pseudo-words drawn from the 1,500
common (GB2312 level 1) characters, sampled nearly uniformly: varied enough to train SentencePiece
vocabularies of several thousand pieces, and no 13-gram is shared by chance between two rows (the
leakage check of fine-tuning sees none). Everything is a pure function of its seed.
"""

from __future__ import annotations

import gzip
import json
import random
from functools import lru_cache
from pathlib import Path

REAL_WORDS = """
我们 你们 他们 今天 明天 昨天 现在 以前 以后 时候 时间 地方 问题 事情 东西 工作 生活 学习 学校 老师
学生 朋友 孩子 父母 妈妈 爸爸 医生 病人 公司 经理 同事 城市 农村 国家 政府 社会 经济 文化 历史 科学
技术 发展 研究 教育 市场 价格 服务 质量 环境 健康 身体 心情 感觉 意思 关系 结果 原因 办法 机会 条件
酒店 房间 早餐 位置 电脑 屏幕 键盘 外观 快递 这本书 手机 电影 音乐 新闻 体育 比赛 球队 汽车 房子 银行
股票 基金 农业 游戏 旅游 军事 娱乐 故事 花呗 借呗 额度 还款 账单 信用卡 支付宝 余额 利息 手续费
喜欢 希望 认为 觉得 知道 相信 需要 应该 可以 能够 开始 结束 继续 决定 参加 准备 发现 解决 提高 增加
减少 改变 影响 保护 支持 帮助 介绍 讨论 报告 表示 提出 完成 进行 出现 成为 发生 属于 包括 使用 选择
很好 不错 一般 满意 失望 干净 方便 舒服 便宜 昂贵 漂亮 重要 简单 复杂 安全 危险 快乐 难过 认真
非常 特别 比较 已经 一直 马上 终于 可能 一定 也许 当然 其实 只是 但是 因为 所以 如果 虽然 而且 或者
中国 北京 上海 广州 深圳 长江 黄河 世界 亚洲 欧洲 美国 英国 日本 春天 夏天 秋天 冬天 早上 晚上 周末
一个 两个 几个 许多 所有 每天 第一 最后 其中 之后 之前 左右 上面 下面 里面 外面 中间 附近 对面 旁边
吃饭 睡觉 看书 写字 上班 下班 回家 出门 开车 买菜 做饭 打电话 发消息 看电视 听音乐 跑步 游泳 爬山
政策 会议 代表 人民 群众 企业 产品 客户 用户 平台 网络 数据 信息 系统 软件 系列 作品 作者 读者 观众
评论 态度 推荐 值得 不值 性价比 服务员 前台 入住 退房 设施 隔音 空调 热水 网速 电池 系统
蕴含 中立 矛盾 可以推出 无法判断 相互矛盾 是 否 也许 同义 不同义 一样 不一样 故事 财经 房产 科技 国际 电竞
标题 类别 前提 假设 答案 阅读 下文 横线 成语 句子 两句话 判断 选项 栏目 哪一类 哪个 什么 请 找出 应填 对吗
"""

COMMON_CHARS = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去"
    "行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从现想开样长"
    "已把但实点意问题最外些候力次间部由电重机相身全关明正新很两手高文门情本回理利加量产口给度民使话合马打路位性"
    "社区提总动平老先因业立制表教北结内变反则通各车期体比政治认向走美员级影安神常每条特物件服务接领导解决空何感"
    "求书难流信象亲直百东西南风花海山水火木土金石田目耳头足衣食住吃喝穿睡听读写唱跳跑坐站快慢早晚冷热远近轻少"
    "黑白红黄蓝绿买卖钱价贵便宜商店医院校司厂农村城市差坏错否"
)

IDIOMS = """
一心一意 三心二意 半途而废 坚持不懈 画蛇添足 守株待兔 亡羊补牢 雪中送炭 锦上添花 自言自语 千方百计
一举两得 四面八方 五光十色 七上八下 九牛一毛 十全十美 百发百中 千变万化 万紫千红 风和日丽 鸟语花香
井底之蛙 对牛弹琴 杯弓蛇影 掩耳盗铃 刻舟求剑 拔苗助长 叶公好龙 指鹿为马 卧薪尝胆 破釜沉舟 背水一战
小心翼翼 兴高采烈 垂头丧气 津津有味 聚精会神 专心致志 全神贯注 不约而同 各抒己见 异口同声 争先恐后
""".split()

ENGLISH_WORDS = """
the a an of to in on at for with from by about after before over under between during without against
government minister people city country world company market bank police court school hospital team club
said says told reported announced added warned claimed agreed refused expected planned decided confirmed
monday tuesday wednesday thursday friday saturday sunday week month year today yesterday morning evening
new old big small first last many more most some other public local national international economic
political financial official former senior chief young great high low early late strong major recent
price prices growth jobs workers money plans report figures shares sales deal talks election vote party
leader president prime officials police services health care schools homes families children people
game match season players coach win lost goal final cup league record time home away side fans
and but or because while when where which who that this these those there here it its their his her
will would could should may might can must has have had is are was were be been being not also only
""".split()

TNEWS = {
    "100": "news_story",
    "101": "news_culture",
    "102": "news_entertainment",
    "103": "news_sports",
    "104": "news_finance",
    "106": "news_house",
    "107": "news_car",
    "108": "news_edu",
    "109": "news_tech",
    "110": "news_military",
    "112": "news_travel",
    "113": "news_world",
    "114": "news_stock",
    "115": "news_agriculture",
    "116": "news_game",
}

# Tasks written by `write_data_dir` and the rows per split (the catalog decides which splits exist).
TRAIN_ROWS = {"chnsenticorp": 2000, "ocnli": 400}
DEFAULT_TRAIN_ROWS = 300
EVAL_ROWS = 60
TASKS = ("ocnli", "cmnli", "cinlid", "afqmc", "chnsenticorp", "tnews", "c3", "cmrc2018", "drcd", "chid")


@lru_cache(maxsize=1)
def common_chars() -> tuple[str, tuple[float, ...]]:
    """(characters, Zipf-like weights): the very common characters and those of the real words first,
    then a seeded sample of the other GB2312 level-1 characters, 1,500 in all (a character coverage of
    0.98-0.999 keeps most of them, as on real text)."""
    level1 = []
    for row in range(0xB0, 0xD8):
        for col in range(0xA1, 0xFF):
            try:
                level1.append(bytes([row, col]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    first = dict.fromkeys(COMMON_CHARS + "".join(REAL_WORDS.split()))
    rest = [c for c in level1 if c not in first]
    chars = list(first) + random.Random(1234).sample(rest, 1500 - len(first))
    return "".join(chars), tuple(1.0 / (rank + 20) for rank in range(len(chars)))


@lru_cache(maxsize=1)
def lexicon() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """(words, weights): the real words weigh three times a pseudo-word."""
    rng = random.Random(1234)
    chars, weights = common_chars()
    real = REAL_WORDS.split()
    pseudo = {"".join(rng.choices(chars, weights, k=rng.choice((1, 2, 2, 2, 3)))) for _ in range(2600)}
    pseudo = sorted(pseudo - set(real))
    words = tuple(real + pseudo)
    return words, tuple([3.0] * len(real) + [1.0] * len(pseudo))


def words(rng: random.Random, n: int) -> list[str]:
    vocab, weights = lexicon()
    return rng.choices(vocab, weights=weights, k=n)


def clause(rng: random.Random, lo: int = 3, hi: int = 7) -> str:
    out = words(rng, rng.randint(lo, hi))
    for k in range(len(out)):  # Latin words and numbers now and then, as in real Chinese text
        r = rng.random()
        if r < 0.03:
            out[k] = rng.choice(("", " ")) + rng.choice(ENGLISH_WORDS).capitalize() + rng.choice(("", " "))
        elif r < 0.05:
            out[k] = str(rng.randint(1, 2024)) + rng.choice("年月日个元次号")
    return "".join(out)


def sentence(rng: random.Random, clauses: tuple[int, int] = (1, 3), end: str | None = None) -> str:
    parts = [clause(rng) for _ in range(rng.randint(*clauses))]
    return "，".join(parts) + (end if end is not None else rng.choice("。。。！？"))


def paragraph(rng: random.Random, chars: int) -> str:
    out = ""
    while len(out) < chars:
        out += sentence(rng) + (" " if rng.random() < 0.1 else "")  # real reviews have blanks too
    return out.rstrip()


def question(rng: random.Random) -> str:
    return clause(rng, 2, 5) + rng.choice(("吗", "呢", "怎么办", "是什么", "在哪里", "多少钱")) + "？"


def english_sentence(rng: random.Random) -> str:
    ws = rng.choices(ENGLISH_WORDS, k=rng.randint(6, 16))
    return " ".join(ws).capitalize() + rng.choice(".....?")


# -- task rows in the real schemas ---------------------------------------------------------------------


def _nli(rng, i, split, labels, genre=True):
    row = {"id": i, "sentence1": sentence(rng, (2, 3), ""), "sentence2": sentence(rng, (1, 1), "")}
    row["label"] = rng.choice(labels)
    if genre:
        row["genre"] = rng.choice(("gov", "lit", "news", "tv", "phone"))
    return row


def _cinlid(rng, i, split, labels):
    return {
        "id": i,
        "phrase1": rng.choice(IDIOMS),
        "phrase2": rng.choice(IDIOMS),
        "label": rng.choice(labels),
    }


def _afqmc(rng, i, split, labels):
    return {"id": i, "sentence1": question(rng), "sentence2": question(rng), "label": rng.choice(labels)}


def _chnsenticorp(rng, i, split, labels):
    return {"id": i, "text": paragraph(rng, rng.randint(20, 120)), "label": int(rng.choice(labels))}


def _tnews(rng, i, split, labels):
    code = rng.choice(labels)
    return {
        "id": i,
        "sentence": sentence(rng, (1, 2), rng.choice(("", "！", "？"))),
        "keywords": ",".join(words(rng, rng.randint(0, 4))),
        "label": code,
        "label_desc": TNEWS[code],
    }


def _c3(rng, i, split, labels):
    n = rng.randint(2, 4)
    choice = list(dict.fromkeys(clause(rng, 1, 2) for _ in range(n)))
    if rng.random() < 0.5:
        subset, context = "dialogue", [f"{'男女'[k % 2]}：{sentence(rng)}" for k in range(rng.randint(2, 4))]
    else:
        subset, context = "mixed", [paragraph(rng, rng.randint(60, 160))]
    return {
        "id": f"{i}-{rng.randint(1, 300)}-0",
        "subset": subset,
        "context": context,
        "question": question(rng),
        "choice": choice,
        "answer": rng.choice(choice),
    }


def _cmrc2018(rng, i, split, labels):
    context = paragraph(rng, rng.randint(200, 400))
    start = rng.randrange(0, len(context) - 12)
    span = context[start : start + rng.randint(2, 10)]
    refs = rng.randint(1, 3) if split != "train" else 1
    return {
        "id": f"SYN_{split.upper()}_{i}_QUERY_0",
        "title": clause(rng, 1, 2),
        "context": context,
        "question": clause(rng, 3, 6) + "是什么？",
        "answers": {"text": [span] * refs, "answer_start": [start] * refs},
    }


def _chid(rng, i, split, labels):
    candidates = rng.sample(IDIOMS, 7)
    text = paragraph(rng, rng.randint(60, 110))
    cut = rng.randrange(5, len(text) - 5)
    return {"id": i, "content": text[:cut] + "#idiom#" + text[cut:], "candidates": candidates,
            "answer": rng.randrange(7)}  # fmt: skip


MAKERS = {
    "ocnli": _nli,
    "cmnli": lambda rng, i, split, labels: _nli(rng, i, split, labels, genre=False),
    "cinlid": _cinlid,
    "afqmc": _afqmc,
    "chnsenticorp": _chnsenticorp,
    "tnews": _tnews,
    "c3": _c3,
    "cmrc2018": _cmrc2018,
    "drcd": _cmrc2018,  # the same schema (the real passages are in Traditional Chinese)
    "chid": _chid,
}


def task_rows(task: str, split: str, n: int, seed: int = 0) -> list[dict]:
    """`n` synthetic rows of one split of `task` (a key of MAKERS), labels from the catalog."""
    from weprompt.catalog import load_catalog

    labels = load_catalog().task(task).labels
    rng = random.Random(f"{seed}/{task}/{split}")
    return [MAKERS[task](rng, i, split, labels) for i in range(n)]


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_data_dir(root: Path, tasks=TASKS, seed: int = 0) -> Path:
    """Write every split the catalog lists for `tasks` under `root`; returns `root`."""
    from weprompt.catalog import load_catalog

    catalog = load_catalog()
    for task in tasks:
        for split in catalog.task(task).splits:
            n = TRAIN_ROWS.get(task, DEFAULT_TRAIN_ROWS) if split == "train" else EVAL_ROWS
            write_jsonl_gz(root / task / f"{split}.jsonl.gz", task_rows(task, split, n, seed))
    return root


# -- corpus text ---------------------------------------------------------------------------------------


def _poem(rng: random.Random) -> str:
    chars, weights = common_chars()
    width = rng.choice((5, 7))
    lines = ["".join(rng.choices(chars, weights, k=width)) for _ in range(rng.choice((4, 4, 8)))]
    return "".join(line + ("，" if k % 2 == 0 else "。\n") for k, line in enumerate(lines))


def _chapter(rng: random.Random, k: int) -> str:
    paras = [f"第{'一二三四五六七八九十'[k % 10]}回 {clause(rng, 3, 4)}"]
    while sum(map(len, paras)) < 4000:
        paras.append("　　" + paragraph(rng, rng.randint(150, 400)))
    return "\n".join(paras)


def _forum(rng: random.Random) -> str:
    return f"{question(rng)}\n{paragraph(rng, rng.randint(40, 120))}\n{paragraph(rng, rng.randint(80, 250))}"


def _news(rng: random.Random) -> str:
    return " ".join(english_sentence(rng) for _ in range(rng.randint(8, 15)))


@lru_cache(maxsize=4)
def _mixed(seed: int) -> tuple[str, ...]:
    rng = random.Random(f"mixed/{seed}")
    return tuple(
        [_poem(rng) for _ in range(200)]
        + [_chapter(rng, k) for k in range(6)]
        + [_forum(rng) for _ in range(120)]
        + [_news(rng) for _ in range(60)]
    )


def mixed_texts(seed: int = 0) -> list[str]:
    """386 documents laid out like tests/pretrain's real slice: [0:200] poems, [200:206] chapters of
    about 4,000 characters, [206:326] forum posts, [326:386] English news."""
    return list(_mixed(seed))


def corpus_docs(n: int, source: str = "medical_qa_forum", seed: int = 0) -> list[dict]:
    """`n` forum documents in the schema of the corpus files."""
    rng = random.Random(f"docs/{source}/{seed}")
    out = []
    for i in range(n):
        text = _forum(rng)
        out.append({"text": text, "source": source, "lang": "zh", "repo": "synthetic/forum",
                    "path": f"part{i // 100}.csv", "title": text.split("\n")[0]})  # fmt: skip
    return out
