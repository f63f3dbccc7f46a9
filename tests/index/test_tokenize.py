import pytest

from index.tokenize import Tokenizer, TokenizerMode


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer()


def test_user_dictionary_keeps_policy_terms_whole(tok):
    assert "以旧换新" in tok.tokenize("汽车以旧换新补贴怎么申请")
    assert "高校毕业生" in tok.tokenize("高校毕业生就业补贴")
    assert "老旧小区改造" in tok.tokenize("老旧小区改造的范围")


def test_stopwords_and_punctuation_dropped(tok):
    toks = tok.tokenize("请问怎么办理居住证吗？？")
    assert "居住证" in toks
    for filler in ("请问", "怎么", "办理", "吗", "？", "？？"):
        assert filler not in toks


@pytest.mark.parametrize("junk", ["你好", "？？？", "   ", "！@#￥%……&*", "您好，在吗"])
def test_junk_has_no_tokens(tok, junk):
    assert tok.tokenize(junk) == []


def test_full_width_folded(tok):
    assert tok.tokenize("１２３４５热线") == tok.tokenize("12345热线")


def test_signature_records_dictionary():
    a, b = Tokenizer(), Tokenizer(stopwords=["的"])
    assert a.signature["userdict_sha1"] == b.signature["userdict_sha1"]
    assert a.signature["stopwords_sha1"] != b.signature["stopwords_sha1"]
    assert a.signature["engine"].startswith("jieba-")


def test_bad_mode():
    with pytest.raises(ValueError, match="search, precise"):
        Tokenizer(mode="fast")
    assert Tokenizer(mode="precise").mode is TokenizerMode.PRECISE


def test_parallel_matches_serial(tok):
    texts = [f"第{i}条 高校毕业生就业补贴按每人每月{i}元发放。" for i in range(6000)]
    assert tok.tokenize_many(texts, workers=2) == tok.tokenize_many(texts, workers=1)
