import unittest

from flux_tools.answers import as_rational, check, last_boxed, normalize, same_answer


class LastBoxed(unittest.TestCase):
    def test_nested_braces_are_kept(self):
        self.assertEqual(last_boxed(r"so \boxed{\frac{1}{2}}."), r"\frac{1}{2}")
        self.assertEqual(last_boxed(r"\boxed{\left\{1,2\right\}}"), r"\left\{1,2\right\}")

    def test_the_last_box_wins_fbox_included(self):
        self.assertEqual(last_boxed(r"\boxed{3} no wait \boxed{4}"), "4")
        self.assertEqual(last_boxed(r"\boxed{3} then \fbox{5}"), "5")
        self.assertEqual(last_boxed(r"\fbox{5} then \boxed{6}"), "6")

    def test_braceless_box_and_none(self):
        self.assertEqual(last_boxed(r"answer: $\boxed 7$"), "7")
        self.assertIsNone(last_boxed("no box at all"))
        self.assertIsNone(last_boxed(r"a truncated \boxed{12"))
        self.assertIsNone(last_boxed(r"\boxedtext{1}"))

    def test_an_unclosed_last_box_leaves_the_previous_one(self):
        self.assertEqual(last_boxed(r"\boxed{1} and then \boxed{2"), "1")


class Normalise(unittest.TestCase):
    def test_equal_answers(self):
        pairs = [
            (r"\dfrac12", r"\frac{1}{2}"), (r"\tfrac{3}{4}", r"\frac34"), ("0.5", r"\frac{1}{2}"), ("1/2", "0.5"),
            (r"90^\circ", "90"), (r"90^{\circ}", "90"), ("90°", "90"), (r"x = 3", "3"), (r"k=\frac12", "0.5"),
            (r"1{,}000", "1000"), ("1,000,000", "1000000"), (r"\text{(B)}", "B"), ("2.0", "2"), ("2.50", "2.5"),
            (r"\left( 1, 2 \right)", "(1,2)"), (r"5\text{ cm}", "5"), (r"12 \text{ inches}", "12"), (r"10\%", "10"),
            (r"$\sqrt2$", r"\sqrt{2}"), (r"\frac{\sqrt{3}}{2}", r"\dfrac{\sqrt3}{2}"), ("024", "24"), (" 7. ", "7"),
            (r"\text{east}", "east"), ("-3", "-3.0"),
        ]
        for a, b in pairs:
            with self.subTest(a=a, b=b):
                self.assertTrue(same_answer(a, b), f"{a!r} ({normalize(a)!r}) vs {b!r} ({normalize(b)!r})")

    def test_different_answers(self):
        pairs = [("0.333", "1/3"), ("2", "3"), (r"\sqrt{2}", "2"), ("(1,2)", "(2,1)"), ("x+1", "x-1"), ("", ""),
                 ("1,2", "12"), ("A", "B"), ("2m", "2")]
        for a, b in pairs:
            with self.subTest(a=a, b=b):
                self.assertFalse(same_answer(a, b), f"{a!r} ({normalize(a)!r}) vs {b!r} ({normalize(b)!r})")

    def test_rationals_only_where_safe(self):
        self.assertEqual(as_rational(r"-\frac{3}{4}"), as_rational("-0.75"))
        self.assertIsNone(as_rational(r"\sqrt{2}"))
        self.assertIsNone(as_rational("1/0"))


class Check(unittest.TestCase):
    def test_boxed_verifier_needs_a_box(self):
        self.assertEqual(check(r"... so the answer is \boxed{\dfrac{1}{2}}", "0.5", "boxed"), (True, r"\dfrac{1}{2}"))
        self.assertEqual(check("the answer is 24", "24", "boxed"), (False, None))
        self.assertEqual(check(r"\boxed{25}", "24", "boxed"), (False, "25"))

    def test_mentions_verifier_prefers_the_box_then_any_number(self):
        self.assertEqual(check(r"24 ... \boxed{25}", "24", "mentions"), (False, "25"))
        self.assertEqual(check("garbage 1824 x24 then 24\ufffd more", "24", "mentions"), (True, "24"))
        self.assertEqual(check("garbage 1824 240 2.4", "24", "mentions"), (False, None))

    def test_unknown_verifier_is_an_error(self):
        with self.assertRaises(ValueError):
            check("x", "y", "llm-judge")


if __name__ == "__main__":
    unittest.main()
