"""The lay-to-legal table is mined from training questions only, with fixed support, precision and lift."""

from __future__ import annotations

from eval.expansion_lab import mine


def test_mined_expansions_need_support_precision_and_lift() -> None:
    # 打人 questions: 3 of 4 have 故意伤害 in their judged articles; 赔偿 is in every question's articles
    q = {f"h{i}": ["打人"] for i in range(4)} | {f"o{i}": ["合同"] for i in range(8)}
    rel = {f"h{i}": {"故意伤害", "赔偿"} if i < 3 else {"赔偿"} for i in range(4)}
    rel |= {f"o{i}": {"赔偿", "违约"} for i in range(8)}
    table = mine(list(q), q, rel)
    assert table["打人"] == ("故意伤害",)  # 赔偿 has no lift: it follows every question
    assert "合同" not in table  # 违约 is in 8 of 12 questions' articles: lift 1.5 < 3
    # with two supporting questions only, nothing is learned
    assert "打人" not in mine(["h0", "h1", "o0", "o1"], q, rel)
