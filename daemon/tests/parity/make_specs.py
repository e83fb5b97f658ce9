#!/usr/bin/env python3
"""Writes specs.json: a many-rule dcs-v2 document, in the shape Statsig's
console produces (conditions by id in `condition_map`, experiments as
`dynamic_configs` with entity "experiment", layers, holdouts, segments).

Deterministic: run it again and the file is byte-identical. Run
`python3 make_specs.py && python3 make_golden.py` after editing.
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = 1767225600000  # 2026-01-01T00:00:00Z, fixed

condition_map = {}


def cond(ctype, op=None, field=None, target=None, id_type="userID", additional=None):
    c = {
        "type": ctype,
        "targetValue": target,
        "operator": op,
        "field": field,
        "additionalValues": additional if additional is not None else {},
        "idType": id_type,
    }
    cid = str(int(hashlib.sha256(json.dumps(c, sort_keys=True).encode()).hexdigest()[:8], 16))
    condition_map[cid] = c
    return cid


def public(id_type="userID"):
    return cond("public", id_type=id_type)


def rule(rid, conditions, pass_pct=100, ret=True, salt=None, id_type="userID", **extra):
    r = {
        "name": rid,
        "passPercentage": pass_pct,
        "conditions": conditions,
        "returnValue": ret,
        "id": rid,
        "salt": rid if salt is None else salt,
        "idType": id_type,
    }
    r.update(extra)
    return r


def gate(salt, rules, id_type="userID", entity="feature_gate", enabled=True):
    return {
        "type": "feature_gate",
        "salt": salt,
        "enabled": enabled,
        "defaultValue": False,
        "rules": rules,
        "idType": id_type,
        "entity": entity,
        "version": 1,
    }


gates = {}


def g(name, rules, **kw):
    gates[name] = gate(kw.pop("salt", name + "-salt"), rules, **kw)


UA = lambda op, field, target: cond("ua_based", op, field, target)
UF = lambda op, field, target, id_type="userID": cond("user_field", op, field, target, id_type)

# --- user agent -------------------------------------------------------------
g("ua_chrome", [rule("chrome", [UA("any", "browser_name", ["Chrome", "Chrome Mobile"])])])
g("ua_firefox", [rule("firefox", [UA("any", "browser_name", ["Firefox", "Firefox Mobile"])])])
g("ua_safari", [rule("safari", [UA("any", "browser_name", ["Safari", "Mobile Safari"])])])
g("ua_edge", [rule("edge", [UA("any", "browser_name", ["Edge", "Microsoft Edge"])])])
g("ua_windows", [rule("windows", [UA("any", "os_name", ["Windows"])])])
g("ua_mac", [rule("mac", [UA("any", "os_name", ["Mac OS X", "macOS"])])])
g("ua_ios", [rule("ios", [UA("any", "os_name", ["iOS"])])])
g("ua_android", [rule("android", [UA("any", "os_name", ["Android"])])])
g("ua_modern_chrome", [rule("chrome_120_plus", [
    UA("any", "browser_name", ["Chrome"]), UA("version_gte", "browser_version", "120.0")])])
g("ua_old_browser", [rule("browser_lt_100", [UA("version_lt", "browser_version", "100")])])
g("ua_firefox_exact", [rule("firefox_121", [UA("version_eq", "browser_version", "121.0")])])
g("ua_os_version_gt", [rule("os_gt_10_12", [UA("version_gt", "os_version", "10.12")])])
g("ua_ios_17_plus", [rule("ios_17", [UA("any", "os_name", ["iOS"]), UA("version_gte", "os_version", "17.0")])])
g("ua_android_lte_11", [rule("android_old", [UA("any", "os_name", ["Android"]), UA("version_lte", "os_version", "11")])])
g("ua_mobile_half", [rule("mobile_half", [UA("any", "os_name", ["iOS", "Android"])], pass_pct=50)])

# --- top-level fields ---------------------------------------------------------
g("email_staff", [rule("staff_domain", [UF("str_contains_any", "email", ["@corp.example", "@statsig.com"])])])
g("email_allowlist", [rule("named", [UF("any", "email", ["ann@corp.example", "Bob@Corp.Example"])])])
g("email_not_gmail", [rule("not_gmail", [UF("str_contains_none", "email", ["@gmail.com"])])])
g("email_qa_regex", [rule("qa_regex", [UF("str_matches", "email", "^qa[-+][a-z0-9]+@")])])
g("country_na", [rule("na", [cond("ip_based", "any", "country", ["US", "CA"])])])
g("country_eu", [rule("eu", [UF("any", "country", ["DE", "FR", "GB", "ES", "IT", "NL"])])])
g("country_not_us", [rule("not_us", [UF("none", "country", ["US"])])])
g("locale_en", [rule("en", [UF("any", "locale", ["en-US", "en-GB"])])])
g("locale_fr", [rule("fr", [UF("str_contains_any", "locale", ["fr"])])])
g("app_new", [rule("gt_2_3", [UF("version_gt", "appVersion", "2.3.0")])])
g("app_range", [rule("1_5_to_2", [UF("version_gte", "appVersion", "1.5"), UF("version_lt", "appVersion", "2.0")])])
g("app_exact", [rule("eq_3", [UF("version_eq", "appVersion", "3.0.0")])])
g("app_lte_1", [rule("lte_1_9", [UF("version_lte", "appVersion", "1.9.9")])], salt="app-lte")

# --- custom fields ------------------------------------------------------------
g("plan_enterprise", [rule("enterprise", [UF("any", "plan", ["enterprise"])])])
g("plan_paid_half", [rule("paid_half", [UF("any", "plan", ["pro", "enterprise"])], pass_pct=50, salt="paid-half-rule")])
g("plan_not_free", [rule("not_free", [UF("none", "plan", ["free"])])])
g("seats_big", [rule("seats_gt_25", [UF("gt", "seats", 25)])])

# --- custom unit ids ----------------------------------------------------------
g("stable_rollout", [
    rule("stable_list", [cond("unit_id", "any", "stableID", ["stable-0007", "stable-0042"], "stableID")], id_type="stableID"),
    rule("stable_30", [public("stableID")], pass_pct=30, id_type="stableID"),
], id_type="stableID")
g("company_gate", [
    rule("named_companies", [cond("unit_id", "any", "companyID", ["acme", "globex"], "companyID")], id_type="companyID"),
    rule("not_initech_20", [cond("unit_id", "none", "companyID", ["initech"], "companyID")], pass_pct=20, id_type="companyID"),
], id_type="companyID")
g("userid_list", [rule("allowlist", [cond("unit_id", "any", "userID", ["user-0001", "user-0100", "qa-alice"])])])

# --- segment and nested gates -----------------------------------------------
gates["segment:beta_testers"] = gate("beta-seg-salt", [
    rule("seg_ids", [UF("any", "userID", ["user-0003", "user-0033", "user-0333"])]),
    rule("seg_email", [UF("str_contains_any", "email", ["@beta.example"])]),
    rule("seg_plan", [UF("any", "plan", ["beta"])]),
], entity="segment")
g("in_beta_segment", [rule("beta_seg", [cond("pass_gate", "any", None, "segment:beta_testers")])])
g("not_beta_half", [rule("not_beta_half", [cond("fail_gate", None, None, "segment:beta_testers")], pass_pct=50)])
g("nested_chrome_paid", [rule("chrome_and_paid", [
    cond("pass_gate", "any", None, "ua_chrome"), cond("pass_gate", "any", None, "plan_paid_half")])])
g("nested_deep", [
    rule("chrome_paid", [cond("pass_gate", "any", None, "nested_chrome_paid")]),
    rule("outside_na_eu", [cond("fail_gate", None, None, "country_na"), cond("fail_gate", None, None, "country_eu")], pass_pct=25),
])

# --- time ----------------------------------------------------------------------
g("time_launched", [rule("after_2023", [cond("current_time", "after", None, 1672531200000)])])
g("time_window", [rule("2024_to_2100", [
    cond("current_time", "after", None, 1704067200000), cond("current_time", "before", None, 4102444800000)])])
g("time_future", [rule("after_2100", [cond("current_time", "after", None, 4102444800000)])])
g("time_expired", [rule("before_2020", [cond("current_time", "before", None, 1577836800000)])])

# --- percentage rollouts ---------------------------------------------------------
g("rollout_10", [rule("ten", [public()], pass_pct=10, salt="r10-rule-salt")], salt="r10-spec-salt")
g("rollout_50", [rule("fifty", [public()], pass_pct=50)])
g("rollout_0", [rule("nobody", [public()], pass_pct=0)])
g("rollout_99_9", [rule("almost_all", [public()], pass_pct=99.9)])
g("first_rule_decides", [
    rule("chrome_zero", [cond("pass_gate", "any", None, "ua_chrome")], pass_pct=0),
    rule("everyone", [public()]),
])
g("multi_rule", [
    rule("qa", [UF("any", "userID", ["qa-alice", "qa-bob"])]),
    rule("ent", [UF("any", "plan", ["enterprise"])]),
    rule("eu_half", [UF("any", "country", ["DE", "FR", "GB"])], pass_pct=50),
    rule("rest_5", [public()], pass_pct=5),
])
# Disabled as Statsig's console serves it (no rules): everyone fails, rule id `disabled`.
g("disabled_gate", [], enabled=False)
# `enabled: false` with rules left in: statsig-rust 0.24 still evaluates the
# rules (`enabled` only names the fall-through rule id), in both SDKs.
g("disabled_with_rules", [rule("would_pass", [public()])], enabled=False)

# --- holdouts ------------------------------------------------------------------------
gates["holdout_global"] = gate("holdout-global-salt", [rule("hg_10", [public()], pass_pct=10)], entity="holdout")
gates["holdout_growth"] = gate("holdout-growth-salt", [rule("hgr_20", [public()], pass_pct=20)], entity="holdout")
# targeting gates referenced by experiments
g("checkout_targeting", [
    rule("na_or_eu", [cond("pass_gate", "any", None, "country_na")]),
    rule("eu", [cond("pass_gate", "any", None, "country_eu")]),
    rule("paid", [UF("any", "plan", ["pro", "enterprise"])]),
])
gates["segment:inline_targeting:exp_onboarding"] = gate("inline-onb-salt", [
    rule("inline_1", [UF("any", "locale", ["en-US", "en-GB", "de-DE"])]),
    rule("inline_2", [UA("any", "os_name", ["iOS", "Android"])]),
], entity="segment")


# --- experiments and layers -------------------------------------------------------------
def buckets(ids):
    return {str(i): True for i in ids}


def experiment(name, salt, layer_salt, default, groups, pre=(), allocated=None, id_type="userID",
               active=True, targeting=None, entity="experiment"):
    """groups: [(group name, rule id, percent, value dict)]."""
    rules = list(pre)
    if allocated is not None:
        # Outside the layer buckets given to this experiment: the layer default.
        rules.append(rule("layerAssignment", [cond("user_bucket", "none", None, buckets(allocated), id_type,
                                                   {"salt": layer_salt})], ret=default, salt="", id_type=id_type))
    if targeting is not None:
        rules.append(rule(targeting[0], [cond("fail_gate", None, None, targeting[1], id_type)], ret=default,
                          salt="", id_type=id_type))
    if not active:
        rules.insert(0, rule("prestart", [public(id_type)], ret=default, salt="", id_type=id_type))
    upto = 0
    for gname, rid, pct, value in groups:
        upto += int(pct * 10)
        rules.append(rule(rid, [cond("user_bucket", "lt", None, upto, id_type, {"salt": salt})], ret=value,
                          id_type=id_type, groupName=gname, isExperimentGroup=True))
    return {
        "type": "dynamic_config",
        "salt": salt,
        "enabled": True,
        "defaultValue": default,
        "rules": rules,
        "idType": id_type,
        "entity": entity,
        "version": 3,
        "isActive": active,
        "hasSharedParams": True,
        "explicitParameters": ["variant"],
    }


def holdout_rule(hname, default, id_type="userID"):
    return rule(hname, [cond("pass_gate", "any", None, hname, id_type)], ret=default, salt="", id_type=id_type)


V = lambda v: {"variant": v}
dynamic_configs = {}
layer_configs = {}
experiment_to_layer = {}


def layer(name, salt, default, exps, id_type="userID", holdouts=()):
    rules = [holdout_rule(h, default, id_type) for h in holdouts]
    for e in exps:
        experiment_to_layer[e] = name
        rules.append(rule("experimentAssignment", [public(id_type)], ret=default, salt="", id_type=id_type,
                          configDelegate=e))
    layer_configs[name] = {
        "type": "dynamic_config", "salt": salt, "enabled": True, "defaultValue": default, "rules": rules,
        "idType": id_type, "entity": "layer", "version": 2,
    }


CHECKOUT_DEFAULT = V("layer_default")
dynamic_configs["exp_checkout"] = experiment(
    "exp_checkout", "exp-checkout-salt", "layer-checkout-salt", CHECKOUT_DEFAULT,
    [("Control", "checkout_control", 33.4, V("control")), ("Test A", "checkout_a", 33.3, V("a")),
     ("Test B", "checkout_b", 33.3, V("b"))],
    pre=[holdout_rule("holdout_global", V("holdout_value"))], allocated=range(0, 600),
    targeting=("targetingGate", "checkout_targeting"))
dynamic_configs["exp_search"] = experiment(
    "exp_search", "exp-search-salt", "layer-checkout-salt", CHECKOUT_DEFAULT,
    [("Control", "search_control", 50, V("control")), ("Test", "search_test", 50, V("fast"))],
    pre=[holdout_rule("holdout_global", V("holdout_value"))], allocated=range(600, 1000))
layer("layer_checkout", "layer-checkout-salt", CHECKOUT_DEFAULT, ["exp_checkout", "exp_search"],
      holdouts=["holdout_global"])

GROWTH_DEFAULT = V("growth_default")
dynamic_configs["exp_onboarding"] = experiment(
    "exp_onboarding", "exp-onboarding-salt", "layer-growth-salt", GROWTH_DEFAULT,
    [("Control", "onb_control", 40, V("control")), ("Short", "onb_short", 30, V("short")),
     ("Video", "onb_video", 30, V("video"))],
    pre=[holdout_rule("holdout_global", V("holdout_value")), holdout_rule("holdout_growth", V("holdout_value"))],
    allocated=[i for i in range(1000) if i % 2 == 0],
    targeting=("inlineTargetingRules", "segment:inline_targeting:exp_onboarding"))
dynamic_configs["exp_pricing"] = experiment(
    "exp_pricing", "exp-pricing-salt", "layer-growth-salt", GROWTH_DEFAULT,
    [("Control", "pricing_control", 25, V("control")), ("Test", "pricing_test", 25, V("test")),
     ("Shipped", "pricing_shipped", 50, V("shipped_test"))],
    pre=[holdout_rule("holdout_growth", V("holdout_value"))],
    allocated=[i for i in range(1000) if i % 2 == 1])
layer("layer_growth", "layer-growth-salt", GROWTH_DEFAULT, ["exp_onboarding", "exp_pricing"],
      holdouts=["holdout_global", "holdout_growth"])

ANON_DEFAULT = V("anon_default")
dynamic_configs["exp_anon_banner"] = experiment(
    "exp_anon_banner", "exp-anon-salt", "layer-anon-salt", ANON_DEFAULT,
    [("Control", "banner_control", 50, V("control")), ("Bold", "banner_bold", 50, V("bold"))],
    allocated=range(0, 800), id_type="stableID")
layer("layer_anon", "layer-anon-salt", ANON_DEFAULT, ["exp_anon_banner"], id_type="stableID")

dynamic_configs["exp_company_tier"] = experiment(
    "exp_company_tier", "exp-company-salt", None, V("tier_default"),
    [("Control", "tier_control", 10, V("control")), ("Basic", "tier_basic", 20, V("basic")),
     ("Plus", "tier_plus", 30, V("plus")), ("Max", "tier_max", 40, V("max"))],
    id_type="companyID")
dynamic_configs["exp_not_started"] = experiment(
    "exp_not_started", "exp-ns-salt", None, V("not_started"),
    [("Control", "ns_control", 50, V("control")), ("Test", "ns_test", 50, V("test"))], active=False)
dynamic_configs["exp_mobile"] = experiment(
    "exp_mobile", "exp-mobile-salt", None, V("desktop"),
    [("Control", "mobile_control", 50, V("control")), ("Native", "mobile_native", 50, V("native"))],
    pre=[holdout_rule("holdout_global", V("holdout_value"))], targeting=("targetingGate", "ua_mobile_half"))
dynamic_configs["exp_partial"] = experiment(
    "exp_partial", "exp-partial-salt", None, V("control"),
    [("Control", "partial_control", 10, V("control")), ("Test", "partial_test", 10, V("test"))])
dynamic_configs["config_theme"] = {
    "type": "dynamic_config", "salt": "config-theme-salt", "enabled": True, "defaultValue": V("light"),
    "rules": [rule("staff_dark", [cond("pass_gate", "any", None, "email_staff")], ret=V("dark")),
              rule("eu_contrast", [UF("any", "country", ["DE", "FR"])], pass_pct=50, ret=V("contrast"))],
    "idType": "userID", "entity": "dynamic_config", "version": 1,
}

doc = {
    "feature_gates": gates,
    "dynamic_configs": dynamic_configs,
    "layer_configs": layer_configs,
    "experiment_to_layer": experiment_to_layer,
    "condition_map": condition_map,
    "has_updates": True,
    "time": TIME,
    "company_id": "variantd-parity",
    "response_format": "dcs-v2",
    "param_stores": {},
    "sdk_configs": {},
    "diagnostics": {},
}
with open(os.path.join(HERE, "specs.json"), "w") as f:
    json.dump(doc, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"specs.json: {len(gates)} gates, {len(dynamic_configs)} configs/experiments, {len(layer_configs)} layers, "
      f"{len(condition_map)} conditions")
