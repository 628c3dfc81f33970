from django import forms

NEW_POLICY_TEMPLATE = """mode: monitor            # start in monitor mode; switch to enforce when the simulator looks right
rules:
  - id: analysts-investigate
    effect: allow
    when:
      role: [analyst]
      purpose: [investigation]
      data_class: [P2, P3]
constraints:
  - id: graph-shape
    applies_to: {data_class: [P2]}
    max_component_size: 50
    max_path_length: 2
    max_degree: 25
minimize:
  - {id: mask-phone, transform: mask, attributes: [phone], keep_last: 2}
"""


class PolicyEditForm(forms.Form):
    slug = forms.SlugField(max_length=64)
    name = forms.CharField(max_length=200, required=False)
    source = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 28, "spellcheck": "false", "class": "code", "aria-describedby": "editor-keys"}
        ),
        strip=False,
    )
    note = forms.CharField(max_length=300, required=False, help_text="What changed and why (goes into the audit log).")
    activate = forms.BooleanField(required=False, help_text="Put this version in force now.")

    def clean_source(self) -> str:
        # Browsers submit a textarea with CRLF line breaks; store what the author typed.
        return str(self.cleaned_data["source"]).replace("\r\n", "\n")
