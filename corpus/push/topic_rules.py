"""Topics of a policy by weighted cue words, the title weighing most: 1-3 topics, plus the topic
a labelled group implies (农民 -> 农业农村). The learned alternative is `corpus.push.topics`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from corpus.push.taxonomy import TOPICS

# Topic -> regex of cue words. Scored as title hits x TITLE_WEIGHT + text hits (capped).
TOPIC_CUES: dict[str, str] = {
    "就业创业": r"就业|创业|招聘|用工|职业培训|见习|稳岗|劳动合同|返岗|务工",
    "社会保险": r"社会保险|养老保险|医疗保险|医保|失业保险|工伤保险|生育保险|参保|社保|缴费基数|养老待遇|退休",
    "社会救助": r"救助|低保|最低生活保障|特困|临时救助|扶贫|脱贫|贫困|流浪乞讨",
    "教育": r"教育|学校|学生|入学|招生|中考|高考|幼儿园|教材|教师|就读|学位|升学",
    "养老服务": r"养老服务|养老机构|养老院|敬老院|老年人|居家养老|老人",
    "医疗卫生": r"医疗|医院|卫生|诊疗|疾病|医务|急救|药品|患者|就医|医保|公共卫生|健康",
    "住房保障": r"住房|公租房|廉租|经济适用|限价商品|保障房|租赁住房|住房公积金|房屋租赁|房地产|购房",
    "城市更新": r"城市更新|老旧小区|棚户区|旧城改造|城中村|增设电梯",
    "户籍与居住证": r"户籍|户口|落户|居住证|暂住|积分入户|流动人口|入户",
    "消费促进": r"消费|内需|扶贫产品|商贸|内外贸|促销",
    "交通出行": r"交通|出行|道路|公交|车辆|机动车|停车|客运|通行|驾驶",
    "惠企与营商环境": r"复工复产|营商环境|惠企|企业|融资|贷款|纾困|"
    r"减负|市场主体|金融服务|中小企业|小微企业|招商|产业",
    "疫情防控与应急": r"疫情|防控|新冠|肺炎|应急|防疫|传染病|隔离|灾害|防震|减灾|突发事件|险情|化学武器",
    "生态环境": r"环境|污染|排放|生态|环保|大气|扬尘|绿化|森林|林木|河道|水体|泉水|名泉|噪声|废弃物|散装水泥",
    "文化体育": r"文化|文物|体育|历史文化|名城|旅游|博物馆|非物质文化|古迹|街区",
    "农业农村": r"农业|农村|农民|农户|农机|耕地|粮食|种植|养殖|涉农|乡村|四荒|林地|畜牧|村民|土地承包",
    "市场监管": r"市场监管|监督管理|许可|广告|招牌|牌匾|烟草|知识产权|质量|"
    r"价格|执法|处罚|经营者|网络运营者|网络安全|准入|反倾销|听证|经纪",
    "规划与土地": r"规划|土地|用地|建设用地|国土|宅基地|不动产|出让|测绘|建设项目|建设工程|选址|档案",
    "税费": r"税|缴费|收费|费用减免|所得税|增值税|纳税|免征|减征|扣除",
    "公共服务": r"公共服务|供水|供电|燃气|热线|文明|市政|信息公开|网上办|不见面|政务服务|规范性文件|"
    r"行政机关|备案|通信|网络|仲裁|绩效|立法|建议|提案|答复|个人信息|市容",
}
TITLE_WEIGHT = 10
# A measure written for these groups is about this topic even when its cue words are few.
GROUP_TOPICS: dict[str, str] = {"农民": "农业农村", "中小微企业": "惠企与营商环境", "个体工商户": "惠企与营商环境"}
TOPIC_TEXT_CAP = 12
# A second or third topic needs this share of the best topic's score.
TOPIC_SHARE = 0.6


def topic_scores(title: str, text: str) -> Counter[str]:
    """Cue score of every topic: title hits x TITLE_WEIGHT + text hits (at most TOPIC_TEXT_CAP)."""
    scores: Counter[str] = Counter()
    for topic in TOPICS:
        pattern = re.compile(TOPIC_CUES[topic])
        t_hits = len(pattern.findall(title))
        x_hits = min(len(pattern.findall(text)), TOPIC_TEXT_CAP)
        scores[topic] = TITLE_WEIGHT * t_hits + x_hits
    return scores


def rule_topics(title: str, text: str) -> tuple[str, ...]:
    """The keyword rules' 1-3 topics, before any group-implied topic is added."""
    return topics_of(title, text)


def topics_of(title: str, text: str, groups: tuple[str, ...] = ()) -> tuple[str, ...]:
    """1-3 topics by cue scores, plus the topic a labelled group implies (农民 -> 农业农村)."""
    scores = topic_scores(title, text)
    ranked = [(t, s) for t, s in scores.most_common() if s > 0]
    if not ranked:
        return ("公共服务",)
    top = ranked[0][1]
    chosen = [t for t, s in ranked[:3] if s >= max(3, TOPIC_SHARE * top)] or [ranked[0][0]]
    return with_group_topics(chosen, groups)


def with_group_topics(topics: Iterable[str], groups: tuple[str, ...]) -> tuple[str, ...]:
    """`topics` plus, while there is room for 3, the topic each labelled group implies (农民 -> 农业农村)."""
    chosen = list(topics)
    for group in groups:
        implied = GROUP_TOPICS.get(group)
        if implied and implied not in chosen and len(chosen) < 3:
            chosen.append(implied)
    return tuple(chosen)
