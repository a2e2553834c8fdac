"""OptionsSelect, the action-item owner's <select>, joins its <option>s in Python instead of
rendering a template for each; its HTML must be forms.Select's, whatever is chosen."""

import pytest
from django import forms

from accounts.models import User
from meetings.forms import ActionItemForm, OptionsSelect

pytestmark = pytest.mark.django_db

CHOICES = [("", "---------"), (1, "Ann"), (2, '<b>Bob & "Co"</b>'), (30, "O'Hara")]


@pytest.mark.parametrize("value", [None, "", 2, "2", 30, 99, [1, 2]])
@pytest.mark.parametrize(
    "attrs", [None, {"id": "id_owner", "required": True}, {"disabled": False, "data-x": 'a"b'}]
)
def test_it_renders_what_forms_select_renders(value, attrs):
    ours, django = OptionsSelect(choices=CHOICES), forms.Select(choices=CHOICES)
    assert ours.render("owner", value, attrs) == django.render("owner", value, attrs)


def test_choices_in_groups_are_left_to_forms_select():
    grouped = [("People", [(1, "Ann"), (2, "Bob")]), (3, "Cy")]
    ours, django = OptionsSelect(choices=grouped), forms.Select(choices=grouped)
    assert ours.render("owner", 2) == django.render("owner", 2)


def test_the_action_item_form_renders_as_with_forms_select(cast):
    """Built from the page's users or from its queryset (a posted form shown again with its
    errors), the owner field is the <select> Django's own widget gave."""
    owners = list(User.objects.filter(is_active=True))

    class Plain(ActionItemForm):
        owner = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True))

    assert str(ActionItemForm(owners=owners)["owner"]) == str(Plain(owners=owners)["owner"])
    posted = {"title": "", "owner": str(cast.pm.pk), "due_date": ""}
    ours, plain = ActionItemForm(posted), Plain(posted)
    assert not ours.is_valid() and not plain.is_valid()
    assert str(ours["owner"]) == str(plain["owner"])
    assert f'<option value="{cast.pm.pk}" selected>' in str(ours["owner"])
