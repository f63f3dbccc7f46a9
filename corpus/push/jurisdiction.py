"""Where a policy applies: a scope clause (本市行政区域内, 适用于…区) wins, else the region of the
issuer or title, else the region named in the opening lines; national bodies are national.
"""

from __future__ import annotations

import re

from corpus.metadata import JINAN_DISTRICTS, MUNICIPALITIES, PROVINCES, SHORT_PROVINCES, extract_region
from corpus.models import Document
from corpus.push.targeting import Jurisdiction, JurisdictionLevel

# Prefecture-level cities by province: capitals, sub-provincial cities, all of Shandong and
# Guangdong (the service's province and the corpus's most frequent one) and other large cities.
_CITIES_BY_PROVINCE: dict[str, str] = {
    "山东省": "济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽 莱芜",
    "广东省": "广州 深圳 珠海 汕头 佛山 韶关 湛江 肇庆 江门 茂名 "
    "惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州 揭阳 云浮",
    "江苏省": "南京 苏州 无锡 常州 南通 扬州 徐州 镇江 泰州 盐城 淮安 连云港 宿迁",
    "浙江省": "杭州 宁波 温州 绍兴 嘉兴 湖州 金华 台州 衢州 丽水 舟山",
    "福建省": "福州 厦门 泉州 莆田 漳州 三明 南平 龙岩 宁德",
    "湖北省": "武汉 宜昌 襄阳 荆州 黄石 十堰 孝感 黄冈 荆门 鄂州 咸宁 随州",
    "河南省": "郑州 洛阳 开封 新乡 南阳 安阳 许昌 信阳 周口 商丘",
    "四川省": "成都 绵阳 德阳 宜宾 泸州 南充 乐山 自贡 攀枝花",
    "湖南省": "长沙 株洲 湘潭 衡阳 岳阳 常德",
    "陕西省": "西安 宝鸡 咸阳 延安 榆林",
    "辽宁省": "沈阳 大连 鞍山 抚顺 锦州",
    "吉林省": "长春 吉林市",
    "黑龙江省": "哈尔滨 齐齐哈尔 大庆 牡丹江",
    "河北省": "石家庄 唐山 保定 邯郸 廊坊 秦皇岛",
    "山西省": "太原 大同",
    "安徽省": "合肥 芜湖 蚌埠 安庆",
    "江西省": "南昌 赣州 九江",
    "广西壮族自治区": "南宁 柳州 桂林",
    "海南省": "海口 三亚 琼海",
    "贵州省": "贵阳 遵义",
    "云南省": "昆明 大理",
    "甘肃省": "兰州",
    "青海省": "西宁",
    "内蒙古自治区": "呼和浩特 包头",
    "宁夏回族自治区": "银川",
    "新疆维吾尔自治区": "乌鲁木齐",
    "西藏自治区": "拉萨",
}
_CITY_PROVINCE: dict[str, str] = {}
for _prov, _names in _CITIES_BY_PROVINCE.items():
    for _n in _names.split():
        _CITY_PROVINCE[_n.removesuffix("市") + "市"] = _prov
# Short forms used in titles and news ("武汉居住证", "筑府办发"): the city's name without 市.
_CITY_SHORT = {c[:-1]: c for c in _CITY_PROVINCE if len(c) >= 3}
_CITY_SHORT["筑"] = "贵阳市"  # 贵阳's 文号 prefix (筑府发)
# Districts of the cities our subscribers live in, so a district named alone ("番禺区") resolves.
_DISTRICTS_BY_CITY: dict[str, str] = {
    "北京市": "东城 西城 朝阳 海淀 丰台 石景山 通州 顺义 昌平 大兴 房山 门头沟 怀柔 平谷 密云 延庆",
    "上海市": "黄浦 徐汇 长宁 静安 普陀 虹口 杨浦 闵行 宝山 嘉定 浦东新 金山 松江 青浦 奉贤 崇明",
    "天津市": "和平 河东 河西 南开 河北 红桥 东丽 西青 津南 北辰 武清 宝坻 滨海新 宁河 静海 蓟州",
    "广州市": "荔湾 越秀 海珠 天河 白云 黄埔 番禺 花都 南沙 从化 增城",
    "深圳市": "福田 罗湖 南山 盐田 宝安 龙岗 龙华 坪山 光明",
    "佛山市": "禅城 南海 顺德 三水 高明",
    "成都市": "锦江 青羊 金牛 武侯 成华 龙泉驿 青白江 新都 温江 双流 郫都 金堂县",
    "南京市": "玄武 秦淮 建邺 鼓楼 浦口 栖霞 雨花台 江宁 六合 溧水 高淳",
    "武汉市": "江岸 江汉 硚口 汉阳 武昌 青山 洪山 东西湖 汉南 蔡甸 江夏 黄陂 新洲",
    "杭州市": "上城 拱墅 西湖 滨江 萧山 余杭 临平 钱塘 富阳 临安",
}
_DISTRICT_CITY: dict[str, str] = {}
for _city, _names in _DISTRICTS_BY_CITY.items():
    for _n in _names.split():
        _DISTRICT_CITY[_n if _n.endswith(("区", "县")) else _n + "区"] = _city

# Bodies whose documents apply nationwide.
_NATIONAL_RE = re.compile(
    r"^(?:中华人民共和国|中共中央|国务院|全国人[大民]|国家(?!级)|中央|财政部|教育部|公安部|民政部|商务部|"
    r"海关总署|税务总局|人力资源(?:和)?社会保障部|人社部|劳动(?:和社会保障|保障)?部|劳保部|卫生部|农业部|"
    r"国土资源部|自然资源部|住房和城乡建设部|建设部|交通运输部|工业和信息化部|工信部|生态环境部|环境保护部|"
    r"国家卫生|人民银行|中国人民银行|银保监会|证监会|国家发展|发改|[^\s，。]{1,10}部(?:令|关于|：|-|办公厅)|"
    r"[^\s，。]{1,8}总局)"
)
_ALL_PROVINCES_RE = re.compile(r"各省、自治区、直辖市")
_NATIONAL_SIGN_RE = re.compile(
    r"(?:国务院|国家[\u4e00-\u9fff]{2,12}(?:局|委员会|总局)|海关总署|[\u4e00-\u9fff]{2,10}(?<!指挥|俱乐)(?<!支)部)\s*(?:19|20)\d\d年"
)
_LOCAL_RE = re.compile(r"我市|本市|我省|本省")
_SOURCE_RE = re.compile(r"来源[:：]\s*([\u4e00-\u9fff]{2,12})")
_NATIONAL_LAW_RE = re.compile(r"^[^省市区县]{2,20}法(?:（[^）]*）)?(?:\d{4})?$")
_SCOPE_RE = re.compile(
    r"(?:本(?:省|市|区|县|自治区)(?:行政区域|行政区划|范围|辖区)(?:内|范围内))|(?:适用于[^。；\n]{0,40})"
)
_REGION_NAME_RE = re.compile(r"([\u4e00-\u9fff]{2,4}?(?:区|县))")


def jurisdiction_of(doc: Document) -> Jurisdiction:
    """Where `doc` applies: the rules of the module docstring, in that order."""
    title = re.sub(r"\s+", "", doc.title or "")
    text = doc.text or ""
    head = text[:300]
    issuer = doc.issuer or ""
    national = bool(_NATIONAL_RE.search(title) or _NATIONAL_RE.search(issuer) or _NATIONAL_LAW_RE.search(title))
    if not title or doc.metadata.get("title_from_text"):
        national = national or bool(_NATIONAL_RE.search(head.lstrip("（( 　")))
    # written to every province, or signed by a national body
    national = national or bool(_ALL_PROVINCES_RE.search(head)) or bool(_NATIONAL_SIGN_RE.search(text[-80:]))
    if national:
        # a national body writing to or about one place (复函, 先行区): that place
        about = title.split("关于", 1)[1] if "关于" in title else ""
        place = _region_at_start(about.removeprefix("在"))
        if place and (title.endswith(("复函", "函")) or about.startswith("在")):
            return place
        return Jurisdiction()
    base = (
        _parse_region(doc.region or "")
        or _parse_region(extract_region(title, issuer) or "")
        or _region_in(title)
        or _parse_region(str(doc.metadata.get("source_issuer") or ""))
        or _region_in(head, skip_datelines=True)
        or _region_in(" ".join(_SOURCE_RE.findall(text[-300:])))
    )
    if base is None:
        # a local text ("我市…") whose place we cannot name: reach no one rather than everyone
        m = _LOCAL_RE.search(text[:1000])
        if m:
            level = JurisdictionLevel.PROVINCIAL if "省" in m.group(0) else JurisdictionLevel.MUNICIPAL
            return Jurisdiction(level)
        return Jurisdiction()
    return _scoped(base, text)


def _scoped(base: Jurisdiction, text: str) -> Jurisdiction:
    """Narrow a city-level jurisdiction to named districts when the scope clause lists them."""
    if base.level is JurisdictionLevel.DISTRICT or base.level is JurisdictionLevel.NATIONAL:
        return base
    for m in _SCOPE_RE.finditer(text[:3000]):
        clause = m.group(0)
        if "行政区域" in clause or "全市" in clause or "全省" in clause:
            return base
        names = []
        for d in _REGION_NAME_RE.findall(clause):
            d = d.removeprefix("本市").removeprefix("本")
            if base.city == "济南市" and d not in JINAN_DISTRICTS:
                continue
            known = d in JINAN_DISTRICTS or d in _DISTRICT_CITY
            if (
                d
                and d not in names
                and (known or not re.search(r"社区|园区|城区|辖区|景区|小区|地区|本区|各区|区县", d))
            ):
                names.append(d)
        if names and base.city:
            return Jurisdiction(JurisdictionLevel.DISTRICT, base.province, base.city, tuple(names))
    return base


def _parse_region(region: str) -> Jurisdiction | None:
    """济南市历城区 / 上海市 / 宁夏回族自治区 / 武汉市 -> Jurisdiction."""
    region = re.sub(r"\s+", "", region)
    if not region or region == "全国":
        return None
    province = city = district = None
    rest = region
    for p in PROVINCES:
        if rest.startswith(p):
            province, rest = p, rest[len(p) :]
            break
    else:
        for short, p in SHORT_PROVINCES.items():
            if rest.startswith(short) and len(rest) <= len(short) + 1:
                province, rest = p, ""
                break
    if province in MUNICIPALITIES:
        city = province
    else:
        m = re.match(r"([\u4e00-\u9fff]{2,8}?(?:市|自治州|地区|盟))", rest)
        if m:
            city, rest = m.group(1), rest[m.end() :]
            province = province or _CITY_PROVINCE.get(city)
        else:
            for short, full in _CITY_SHORT.items():
                if rest.startswith(short):
                    city, rest = full, rest[len(short) :]
                    province = province or _CITY_PROVINCE.get(full)
                    break
    m = re.match(r"([\u4e00-\u9fff]{1,6}?(?:区|县|旗))", rest)
    if m and city:
        district = m.group(1)
    if not province:
        if city is None and district is None:
            for d in JINAN_DISTRICTS:
                if region.startswith(d):
                    return Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", (d,))
            m = re.match(r"[\u4e00-\u9fff]{1,4}?[区县]", region)
            if m and m.group(0) in _DISTRICT_CITY:
                c = _DISTRICT_CITY[m.group(0)]
                p = c if c in MUNICIPALITIES else _CITY_PROVINCE[c]
                return Jurisdiction(JurisdictionLevel.DISTRICT, p, c, (m.group(0),))
        return None
    if district:
        return Jurisdiction(JurisdictionLevel.DISTRICT, province, city, (district,))
    if city and province not in MUNICIPALITIES:
        return Jurisdiction(JurisdictionLevel.MUNICIPAL, province, city)
    return Jurisdiction(JurisdictionLevel.PROVINCIAL, province)


def _region_at_start(s: str) -> Jurisdiction | None:
    m = re.match(r"[\u4e00-\u9fff]{2,20}?(?:省|市|自治区)(?:[\u4e00-\u9fff]{1,6}?(?:市|县|区))?", s)
    if m:
        return _parse_region(m.group(0))
    for short, p in SHORT_PROVINCES.items():
        if s.startswith(short):
            return _parse_region(p)
    return None


_DATELINE_RE = re.compile(r"(?:新华社|中新网|人民网|央视网|中新社)[\u4e00-\u9fff]{2,4}\d{1,2}月\d{1,2}日电")


def _region_in(s: str, skip_datelines: bool = False) -> Jurisdiction | None:
    """The first place named anywhere in `s`: a province, a listed city, or a Jinan district."""
    if skip_datelines:
        s = _DATELINE_RE.sub("", s)
    best: tuple[int, Jurisdiction] | None = None
    candidates: list[tuple[int, str]] = []
    for p in PROVINCES:
        i = s.find(p)
        if i >= 0:
            candidates.append((i, p))
    for short, p in SHORT_PROVINCES.items():
        i = s.find(short)
        if i >= 0 and (len(short) >= 3 or s[i + len(short) : i + len(short) + 1] != "路"):
            candidates.append((i, p))
    for c in _CITY_PROVINCE:
        i = s.find(c)
        if i >= 0:
            candidates.append((i, _CITY_PROVINCE[c] + c))
    for short, c in _CITY_SHORT.items():
        if len(short) < 2:
            continue
        i = s.find(short)
        if i >= 0:
            candidates.append((i, _CITY_PROVINCE[c] + c))
    for d in JINAN_DISTRICTS:
        i = s.find(d)
        if i >= 0:
            candidates.append((i, "山东省济南市" + d))
    for d in _DISTRICT_CITY:
        i = s.find(d)
        if i >= 0:
            candidates.append((i, d))
    for i, name in sorted(candidates, key=lambda c: (c[0], -len(c[1]))):
        # a district right after the city (南京市建邺区, 番禺区…)
        after = s[i:]
        tail = re.match(
            r"[\u4e00-\u9fff]{2,9}?(?:省|市|自治区)?([\u4e00-\u9fff]{1,4}?区|[\u4e00-\u9fff]{1,4}?县)", after
        )
        j = _parse_region(name)
        if j is None:
            continue
        if best is None:
            best = (i, j)
            if tail and j.level is JurisdictionLevel.MUNICIPAL and after.startswith(j.city or "\0"):
                d = tail.group(1)
                if not re.search(r"社区|园区|城区|辖区|景区|小区|地区|新区|开发区|全区|市区", d):
                    best = (i, Jurisdiction(JurisdictionLevel.DISTRICT, j.province, j.city, (d,)))
            break
    return best[1] if best else None
