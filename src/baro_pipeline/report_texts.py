"""The report's reader-facing texts, one set per language; the edition's ``language`` selects it.

The audit keeps its reasons in English (``reason`` of ``audit.parquet``) and, beside them, as
clauses with a code and their facts (``reason_parts``): a report words each clause here, in its
own language, with its own number format. A language is a :class:`ReportTexts`; only French
(``fr``) exists so far, the language of edition 2025.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from .significance import Significance

NARROW_SPACE = "\u202f"  # French thousands separator and space before %

Facts = Mapping[str, Any]


def french_number(value: float, decimals: int = 0) -> str:
    """1234.5 -> "1 234,5" (narrow no-break spaces between thousands)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NARROW_SPACE).replace(".", ",")


def french_printed(printed: str) -> str:
    """A printed value as the audit writes it ("45", "≥80", "80.5") -> "45 %", "≥80 %", "80,5 %"."""
    return f"{printed.replace('.', ',')}{NARROW_SPACE}%"


def points_text(value: float, signed: bool = False) -> str:
    """3.25 -> "3,3 pts" ("+3,3 pts" when signed); under 2: "pt"."""
    shown = round(value, 1) + 0.0  # no "-0,0"
    sign = "+" if signed and shown > 0 else ""
    unit = "pt" if abs(shown) < 2 else "pts"
    return f"{sign}{french_number(shown, 1)}{NARROW_SPACE}{unit}"


def french_range(low: float, high: float) -> str:
    return f"{french_number(low, 1)} à {french_number(high, 1)}{NARROW_SPACE}%"


def french_values(values: list[str], joiner: str) -> str:
    return f" {joiner} ".join(french_printed(v) for v in values)


FRENCH_NET_RULES = {
    (False, True): "doit être égal à la somme de ses parts",
    (False, False): "doit être au moins la somme de ses parts publiées",
    (True, True): "doit être compris entre sa plus grande part et la somme de ses parts",
    (True, False): "doit être au moins sa plus grande part publiée",
}

# A failed consistency check of the publication, by the audit's check code.
FRENCH_CHECKS: dict[str, Callable[[Facts], str]] = {
    "product_of": lambda f: (
        f"publié {french_printed(f['published'])}, alors que ses composantes donnent {french_values(f['components'], '×')} = "
        f"{french_number(f['central'], 1)}{NARROW_SPACE}% ({french_range(f['low'], f['high'])} d'après les chiffres arrondis)"
    ),
    "net_vs_parts": lambda f: (
        f"le regroupement « {f['net']} » ({french_printed(f['published'])}) {FRENCH_NET_RULES[(f['multi'], f['complete'])]} "
        f"({french_values(f['parts'], '+')} = {french_printed(f['total'])}) : attendu {french_range(f['low'], f['high'])}"
    ),
    "net_plus_exclusive": lambda f: (
        f"le regroupement « {f['net']} » ({french_printed(f['published'])}) plus les réponses exclusives "
        f"{french_values(f['exclusive'], '+')} doivent faire 100{NARROW_SPACE}% : attendu {french_range(f['low'], f['high'])}"
    ),
    "single_sum": lambda f: (
        f"les chiffres d'une question à réponse unique {french_values(f['values'], '+')} = {french_printed(f['total'])} "
        f"{'doivent faire' if f['exact'] else 'ne peuvent dépasser'} 100{NARROW_SPACE}%"
    ),
    "multi_sum": lambda f: (
        f"les chiffres d'une question à {f['max_answers']} réponses au plus {french_values(f['values'], '+')} = "
        f"{french_printed(f['total'])} ne peuvent dépasser {f['max_answers'] * 100}{NARROW_SPACE}%"
    ),
}

# A usual slip the audit tried: (what was done instead, for "reproduit par …"; its short name).
FRENCH_SLIPS: dict[str, Callable[[Facts, Mapping[str, str]], tuple[str, str]]] = {
    "unweighted": lambda f, pops: ("l'estimation non pondérée", "non pondéré"),
    "whole_sample": lambda f, pops: (
        "l'ensemble de l'échantillon pris pour base (les personnes non interrogées comptées « non ») au lieu des seules personnes interrogées",
        "ensemble de l'échantillon",
    ),
    "routed_base": lambda f, pops: (
        "les seules personnes interrogées pris pour base au lieu de "
        + ("l'ensemble de l'échantillon" if f["instead_of"] == "all" else "la sous-population du chiffre"),
        "base des interrogés",
    ),
    "not_answers_out": lambda f, pops: (f"{' / '.join(f['labels'])} exclus de la base", "« ne sait pas » exclus"),
    "not_answers_in": lambda f, pops: (f"{' / '.join(f['labels'])} gardés dans la base", "« ne sait pas » gardés"),
    "top_box": lambda f, pops: (f"la seule réponse « {f['code_label']} » au lieu du regroupement « {f['net_label']} »", "réponse la plus forte seule"),
    "rounding": lambda f, pops: (
        ("l'arrondi à l'unité inférieure au lieu de l'arrondi au plus proche", "arrondi inférieur")
        if f["rounding"] == "down"
        else ("l'arrondi au plus proche au lieu de l'arrondi à l'unité inférieure", "arrondi au plus proche")
    ),
    "other_population": lambda f, pops: (f"le chiffre de l'autre population ({pops.get(f['population'], f['population'])})", pops.get(f["population"], f["population"])),
}

FRENCH_PROBLEM_KINDS = {
    "unlabelled_population": "la synthèse n'indique pas la population de cette liste (attribution de l'audit)",
    "other": "chiffre publié sous une forme que l'audit interprète",
}


def french_slip(record: Facts, pops: Mapping[str, str]) -> tuple[str, str]:
    return FRENCH_SLIPS[record["slip"]](record, pops)


def pop_label(facts: Facts, pops: Mapping[str, str]) -> str:
    return pops.get(facts["population"], facts["population"])


# Every other clause of an audit reason, by its code: (facts, population id -> label) -> text.
FRENCH_CLAUSES: dict[str, Callable[[Facts, Mapping[str, str]], str]] = {
    "self_contradiction": lambda f, pops: "la publication se contredit sur ce chiffre",
    "check_involved": lambda f, pops: f"un contrôle de cohérence de la publication qui inclut ce chiffre échoue ({french_reason_part(f['check'], pops)})",
    "no_data": lambda f, pops: f"pas de données pour la population {pop_label(f, pops)} (aucun fichier validé)",
    "empty_base": lambda f, pops: "base vide : aucun répondant dans la base du chiffre",
    "suppressed_base": lambda f, pops: f"base trop faible : {french_number(f['n'])} répondant(s), sous le seuil de diffusion de {french_number(f['threshold'])}",
    "not_estimable": lambda f, pops: "l'indicateur ne peut pas être calculé sur ces données",
    "difference": lambda f, pops: (
        f"calculé {french_number(f['computed'], 1)}{NARROW_SPACE}% (arrondi {french_number(f['computed_pct'])}), "
        f"écart {points_text(f['difference'], signed=True)} ; le chiffre publié {french_printed(f['published'])} est "
        f"{'dans' if f['inside'] else 'hors de'} l'intervalle de confiance à {f['level']}{NARROW_SPACE}% ({french_range(f['ci_low'], f['ci_high'])})"
    ),
    "reproduced_by": lambda f, pops: "reproduit par " + " ou par ".join(
        f"{french_slip(s, pops)[0]} ({french_number(s['value'], 1)}{NARROW_SPACE}% → {french_printed(s['printed'])})" for s in f["slips"]
    ),
    "no_slip_tried": lambda f, pops: "aucune erreur usuelle n'a pu être essayée",
    "no_slip_reproduces": lambda f, pops: "aucune erreur usuelle ne le reproduit ("
    + ", ".join(f"{french_slip(s, pops)[1]} {french_printed(s['printed'])}" for s in f["slips"]) + ")",
    "small_base": lambda f, pops: f"base faible (n = {french_number(f['n'])}, sous {french_number(f['flag_base'])})",
    "known_problem": lambda f, pops: f"problème connu : {FRENCH_PROBLEM_KINDS.get(f['kind'], f['kind'])}",
}


def french_reason_part(part: Facts, pops: Mapping[str, str]) -> str:
    """One clause of an audit reason (a record of ``reason_parts``) in French."""
    code = part["code"]
    return FRENCH_CHECKS[code](part) if code in FRENCH_CHECKS else FRENCH_CLAUSES[code](part, pops)


def french_reason(parts_json: str, pops: Mapping[str, str], significance: Significance) -> str:
    """A figure's whole reason (``reason_parts`` of the audit) in French; "" when it has none.
    Each clause's facts get the ``level`` (in percent) the audit's intervals were computed at."""
    text = " ; ".join(french_reason_part({**p, "level": significance.percent}, pops) for p in json.loads(parts_json or "[]"))
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class ReportTexts:
    """What the report says in one language, besides the edition's own labels and wordings."""

    verdicts: Mapping[str, str]
    reason: Callable[[str, Mapping[str, str], Significance], str]  # (reason_parts, population id -> label, the edition's policy) -> text
    press: str  # before a press figure's outlet
    unverified: str  # after a source whose address is not verified
    audit_note: str  # under the audit's chart: what the verdicts mean
    page: Mapping[str, str]  # the page's own texts (titles, notes), by key; {fields} filled where used
    columns: Mapping[str, tuple[str, ...]]  # each table's column headers


FRENCH = ReportTexts(
    verdicts={
        "match": "conforme", "within_moe": "dans la marge d'erreur", "not_computed": "non calculé",
        "inconsistent_publication": "publication incohérente", "mismatch": "écart",
    },
    reason=french_reason,
    press="presse",
    unverified="adresse non vérifiée",
    audit_note=(
        "Conforme : le chiffre recalculé, arrondi comme la synthèse, est le chiffre publié. "
        "Dans la marge d'erreur : il ne l'est pas, mais le chiffre publié est dans l'intervalle de confiance. "
        "Écart : le chiffre publié est hors de l'intervalle. "
        "Publication incohérente : la synthèse se contredit sur ce chiffre (par exemple un produit de deux chiffres publiés qui ne donne pas le chiffre publié). "
        "Non calculé : les données ne permettent pas de le calculer."
    ),
    page={
        "edition": "Édition {id}",
        "fieldwork": " · terrain du {start} au {end}",
        "previous": " · édition précédente : {previous}",
        "summary": "Résultats recalculés à partir des données : estimations pondérées, marges d'erreur à {level} % et audit des chiffres publiés.",
        "reading": (
            "Chaque chiffre : estimation pondérée (calage sur les marges), arrondie comme la synthèse ; « ± » : marge d'erreur à "
            "{level} % (demi-largeur de l'intervalle de confiance, méthode {interval}, erreurs-types linéarisées tenant compte du "
            "calage) ; n : répondants de la base. Base faible : n < {flag_base} (signalée) ; n < {suppress_base} : valeur non publiée."
        ),
        "contents": "Sommaire",
        "no_results": "Aucun résultat à montrer.",
        "printed": "Publié :",
        "mirror": "Comparaisons miroir entre populations",
        "no_mirror": "Aucune paire de chiffres publiés de même sens dans les deux populations.",
        "trends": "Évolutions depuis {previous}",
        "significant_trends": "Évolutions significatives (ensemble de chaque population)",
        "no_significant_trend": "Aucune évolution significative.",
        "no_trends": (
            "Pas d'évolutions : l'édition {previous} n'a pas de résultats (lancer « baro run {previous} »), "
            "ou aucune question n'est reliée à celles de l'édition {previous}."
        ),
        "audit": "Audit des chiffres publiés",
        "to_examine": "Chiffres à examiner",
        "all_match": "Tous les chiffres publiés sont conformes.",
        "no_figures": "L'édition ne liste encore aucun chiffre publié.",
        "method": "Méthode",
        "footer": "baro-pipeline {version} · édition {id} · aucune donnée individuelle ni réponse ouverte dans ce rapport.",
        "page_title": "Page {number} de la synthèse",
        "results": "Résultats",
        "mirror_chart": "Comparaisons miroir",
        "mirror_pairs": (
            "Paires de chiffres publiés de même sens : imprimés sur la même page de la synthèse, leurs libellés finissent "
            "par les mêmes mots (au moins {words})."
        ),
        "mirror_bases": "Bases : celles des chiffres publiés ; {n} (détail dans le tableau).",
        "mirror_note": (
            "Écart ± {z} erreur-type, entre deux échantillons indépendants : erreur-type √(se₁² + se₂²), test z bilatéral à {level} %."
        ),
        "yes": "oui",
        "no": "non",
        "trend_chart": "Évolutions {previous} → {id} ({population})",
        "trend_points": "Cercle vide : {previous} ; point plein : {id}, en couleur si l'évolution est significative à {level} % (*).",
        "trend_bases": "Base : chaque question sur sa base ; {n} en {id}, {n_previous} en {previous}.",
        "trend_note": (
            "Évolution ± {z} erreur-type ; échantillons indépendants : erreur-type de l'évolution √(se₁² + se₂²) "
            "(erreurs-types de chaque édition, linéarisées après calage), test z bilatéral à {level} %."
        ),
        "audit_counts": "{n} chiffres publiés : {counts}.",
        "audit_axis": "chiffres publiés",
    },
    columns={
        "mirror": ("comparaison", "population", "estimation", "population", "estimation", "écart", "significatif"),
        "trends": ("population", "question", "réponse", "avant", "après", "évolution", "p"),
        "audit": ("chiffre", "population", "publié", "calculé", "écart", "verdict", "raison"),
        "weighting": ("population", "interviews gardées", "effet de plan (Kish)", "efficacité", "poids min – max"),
    },
)

LANGUAGES: Mapping[str, ReportTexts] = {"fr": FRENCH}
