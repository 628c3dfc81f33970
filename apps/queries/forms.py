from django import forms

QUERY_TEMPLATE = """{
  "dataset": "calls-demo",
  "seeds": ["grp12-0"],
  "hops": 2,
  "metric": "pagerank",
  "fields": ["city", "age"],
  "top_k": 20,
  "purpose": "investigation",
  "reason": "Case 2026-118: link analysis of a reported fraud ring"
}"""


class QueryForm(forms.Form):
    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        initial=QUERY_TEMPLATE,
        max_length=100_000,
    )
