"""The one PII masking function: Japanese number forms, full width, and hostile input."""

from __future__ import annotations

import pytest

from mangaassist.common.pii import mask_pii
from mangaassist.devtools.cpu import assert_no_worse_than_ordinary


@pytest.mark.parametrize(
    ("text", "masked", "kinds"),
    [
        ("メールはtaro.yamada@example.co.jpです", "メールは[email]です", ["email"]),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ に送って", "[email] に送って", ["email"]),
        ("電話は０９０－１２３４－５６７８です", "電話は[phone]です", ["phone"]),
        ("電話は090ー1234ー5678です", "電話は[phone]です", ["phone"]),
        ("携帯 ０９０１２３４５６７８", "携帯 [phone]", ["phone"]),
        ("+44 20 7946 0958 or +81-3-1234-5678", "[phone] or [phone]", ["phone"]),
        ("カード ４１１１　１１１１　１１１１　１１１１", "カード [card]", ["card"]),
        ("a@b.co and 03-1234-5678", "[email] and [phone]", ["email", "phone"]),
    ],
)
def test_pii_in_every_form_is_masked_and_the_rest_kept_as_written(text: str, masked: str, kinds: list[str]) -> None:
    assert mask_pii(text) == (masked, kinds)


@pytest.mark.parametrize(
    "text",
    [
        "注文番号 123-4567890-1234567 はいつ届きますか",  # order numbers stay: the customer needs them
        "ワンピース１０５巻は４８４円",
        "ISBN 978-4-08-882011-5",
        "@username のおすすめ",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_pii(text) == (text, [])


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 4_000 + "@",  # the local part of an address that never ends
        "a@" + "b." * 2_000,
        "0" * 4_000,
        "1-" * 2_000,
        "+1 " * 1_300,
    ],
)
def test_hostile_text_costs_about_what_ordinary_text_does(hostile: str) -> None:
    assert_no_worse_than_ordinary(mask_pii, hostile, ratio=10)
