import os

import pytest
import synthdata
from testutil import REPO, SHARED_DATA

from weprompt.finetune_data import BatchConfig, FinetuneBatches
from weprompt.packing import Packer, PackingConfig
from weprompt.pretrain.engine.config import CheckpointConfig, LoggingConfig, OptimConfig, TrainerConfig
from weprompt.pretrain.engine.trainer import Trainer
from weprompt.pretrain.model import ModelConfig
from weprompt.sampler import MultitaskSampler, SamplerConfig, build_pools
from weprompt.templates import Template, TemplateCollection, TemplateMetadata

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Tests never reach the Hub: a missing local file must fail fast, not retry for 23 s.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    yield


@pytest.fixture(scope="session")
def data_dir():
    """The real shared task data dir (skips without it): for tests that check the real data itself."""
    if SHARED_DATA is None:
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synth_data_dir(tmp_path_factory):
    """A task data dir of synthetic rows in the real schemas of ocnli, cmnli, cinlid, afqmc, chnsenticorp,
    tnews, c3, cmrc2018, drcd and chid, every split the catalog lists (tests/synthdata.py). Always present."""
    return synthdata.write_data_dir(tmp_path_factory.mktemp("synth_data"))


@pytest.fixture
def synth_data(synth_data_dir, monkeypatch):
    """`synth_data_dir`, also made the default data dir of this test ($WEPROMPT_DATA_DIR, which
    subprocesses inherit): for code that resolves the data dir itself."""
    monkeypatch.setenv("WEPROMPT_DATA_DIR", str(synth_data_dir))
    return synth_data_dir


@pytest.fixture(scope="session")
def task_tokenizer(tmp_path_factory, synth_data_dir):
    """A small real SentencePiece tokenizer (BPE, 6,000 pieces) trained on the synthetic task rows
    (about 1 s, once per session)."""
    from weprompt.data import load_split
    from weprompt.leakage import example_text
    from weprompt.pretrain.tokenizer import train_tokenizer

    texts = []
    for task in ("ocnli", "c3", "tnews", "chnsenticorp", "afqmc", "cmrc2018"):
        ds = load_split(task, "train", synth_data_dir)
        texts += [example_text(r) for r in ds.select(range(min(800, len(ds))))]
    out = tmp_path_factory.mktemp("task_tokenizer")
    return train_tokenizer(texts, out, vocab_size=6000, char_sets=("ascii",), character_coverage=0.999)


M = TemplateMetadata(True, False, ["Accuracy"], ["zh"])


def _bank(tmp_path):
    """A small bank: the real catalog, one or two templates for a handful of tasks."""
    bank = tmp_path / "bank"
    (bank / "templates").mkdir(parents=True)
    (bank / "catalog.yaml").write_text(
        (REPO / "prompt_bank/catalog.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    specs = {
        "ocnli": (
            "{{sentence1}}\n{{sentence2}}\n关系？ ||| {{answer_choices[label_id]}}",
            "蕴含 ||| 中立 ||| 矛盾",
        ),
        "cinlid": (
            "{{phrase1}}\n{{phrase2}}\n关系？ ||| {{answer_choices[label_id]}}",
            "蕴含 ||| 中立 ||| 矛盾",
        ),
        "afqmc": (
            "“{{sentence1}}”“{{sentence2}}”同义吗？ ||| {{answer_choices[label_id]}}",
            "不同义 ||| 同义",
        ),
        "chnsenticorp": ("评论：{{text}}\n态度？ ||| {{answer_choices[label_id]}}", "差评 ||| 好评"),
        "tnews": (
            "标题：{{sentence}}\n类别： ||| {{answer_choices[label_id]}}",
            "故事 ||| 文化 ||| 娱乐 ||| 体育 ||| 财经 ||| 房产 ||| 汽车 ||| 教育 ||| 科技 ||| 军事 ||| 旅游 ||| 国际 ||| 股票 ||| 农业 ||| 电竞",
        ),
    }
    for task, (jinja, choices) in specs.items():
        TemplateCollection(
            task,
            [Template(name="a", jinja=jinja, answer_choices=choices, metadata=M)],
            bank / "templates" / f"{task}.yaml",
        ).save()
    return bank


@pytest.fixture(scope="session")
def tiny_base_session(tmp_path_factory, task_tokenizer, synth_data_dir):
    """A 1-layer base checkpoint made by the real engine on the synthetic task rows, and a small bank dir:
    (base run dir, bank dir). Once per session; tests use `tiny_base`, session fixtures this one."""
    tmp = tmp_path_factory.mktemp("base")
    bank = _bank(tmp)
    from weprompt.bank import load_bank
    from weprompt.data import load_split

    _, colls = load_bank(bank)
    pools = build_pools(
        ["afqmc", "chnsenticorp"], colls, lambda n: load_split(n, "train", synth_data_dir), 500, 0
    )
    tok = task_tokenizer
    src = FinetuneBatches(
        Packer(
            MultitaskSampler(pools, tok, SamplerConfig(block=32)),
            PackingConfig(),
            tok.eos_id,
            tok.pad_id,
            seq_len=65,
        ),
        BatchConfig(),
        2,
        tok.eos_id,
        seed=0,
    )
    model_cfg = ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, d_model=32, context_length=64)
    cfg = TrainerConfig(
        run_dir=str(tmp / "base"),
        total_steps=2,
        micro_batch_size=2,
        optim=OptimConfig(warmup_steps=1),
        checkpoint=CheckpointConfig(every=0),
        logging=LoggingConfig(every=1, progress=False, plot=False),
    )
    tok_dir = tmp / "tok"
    tok.save(tok_dir)
    Trainer(cfg, model_cfg, src, tokenizer_dir=tok_dir, tokenizer_fingerprint=tok.fingerprint()).fit()
    return tmp / "base", bank


@pytest.fixture
def tiny_base(tiny_base_session, synth_data):
    """`tiny_base_session` for one test, with the synthetic rows it was trained on as the test's data dir
    (`synth_data`): fine-tuning or evaluating the base reads them."""
    return tiny_base_session
