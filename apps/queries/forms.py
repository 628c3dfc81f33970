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
    environment = forms.ChoiceField(
        choices=(), required=False, help_text="Whose policies decide: the environment's versions (prod by default)."
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        from apps.policy_studio.environments import names, prod_name

        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [(n, n) for n in names()]
        self.fields["environment"].initial = prod_name()

    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        initial=QUERY_TEMPLATE,
        max_length=100_000,
    )
