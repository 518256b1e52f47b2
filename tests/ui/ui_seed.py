"""Two known ocnli prompts that seed every UI test's private bank."""

from weprompt.templates import Template, TemplateMetadata

SEED = [
    Template(
        id="2b0f8a0c-5d1e-4c3b-9f6a-1d2e3f4a5b6c",
        name="三选一_关系判断",
        jinja="“{{sentence1}}”和“{{sentence2}}”之间是什么关系？蕴含、中立还是矛盾？ ||| {{answer_choices[label_id]}}",
        answer_choices="蕴含 ||| 中立 ||| 矛盾",
        metadata=TemplateMetadata(True, True, ["Accuracy"], ["zh"], {"created_by": "种子"}),
    ),
    Template(
        id="7d3c1b2a-0e9f-4a8b-8c7d-6e5f4a3b2c1d",
        name="考试题_列出选项",
        jinja="阅读两句话，判断第二句与第一句的关系。\n第一句：{{sentence1}}\n第二句：{{sentence2}}\n"
        "选项：可以推出、无法判断、相互矛盾\n答案：||| {{answer_choices[label_id]}}",
        answer_choices="可以推出 ||| 无法判断 ||| 相互矛盾",
        metadata=TemplateMetadata(True, True, ["Accuracy"], ["zh"]),
    ),
]
