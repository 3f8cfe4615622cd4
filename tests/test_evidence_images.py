"""Marking the picture that is a finding's evidence (vetting.review.evidence_images): a mark must name
an image or video of the archived page, or the decision is refused; a recorded mark travels in
the ``item.validated`` event, where the redaction reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import vet
from report_fixtures import Built, add_candidate_case, add_item, new_workspace, run_steps

from vetting.review.evidence_images import is_address, marked_media
from vetting.review.validation import DecisionRequest, ValidationRefused, apply_decisions_file, decide

PAGE = ('<html><body><article id="p7"><img id="gang" src="/media/u/7.jpg" alt="hand signs"></article>'
        '<picture><source srcset="/media/u/8.webp 1x, /media/u/8@2x.webp 2x"><img src="/media/u/8.jpg"></picture>'
        '<video poster="/v/1.jpg" src="/v/1.mp4"></video><p class="caption">not a picture</p></body></html>')
URL = "https://pics.example/u/someone"


@pytest.mark.parametrize("spec,count", [
    ("#gang", 1), ("article img", 1), ("img", 2), ("video", 1), ("p.caption", 0), ("#nothing", 0),
    ("/media/u/7.jpg", 1), ("https://pics.example/media/u/7.jpg", 1), ("https://other.example/media/u/7.jpg", 0),
    ("/media/u/8@2x.webp", 1), ("/v/1.jpg", 1), ("/v/1.mp4", 1), ("", 0),
])
def test_a_mark_names_pictures_by_selector_or_address(spec: str, count: int) -> None:
    assert marked_media(PAGE, URL, spec) == count


def test_a_selector_that_does_not_parse_says_so() -> None:
    with pytest.raises(ValueError, match="neither an address nor a CSS selector"):
        marked_media(PAGE, URL, "img[[")
    assert is_address("/x.png") and is_address("https://a/x.png") and not is_address("img.x")


@pytest.fixture
def case(tmp_path: Path) -> Built:
    b = Built(new_workspace(tmp_path))
    add_candidate_case(b, tmp_path, "kim-r", "Kim R")
    run_steps(b, "kim-r")
    add_item(b, "kim-r", "photo", PAGE.split("<body>")[1].split("</body>")[0], title="Photos")
    return b


def _request(marks: tuple[str, ...], decision: str = "validated") -> DecisionRequest:
    return DecisionRequest("item-kim-r-photo", decision, "the candidate's disclosed account; reviewed",
                           "Det. Sam Ortiz", evidence_images=marks)


def test_a_mark_that_names_nothing_is_refused_and_nothing_is_recorded(case: Built) -> None:
    before = case.ws.audit.size()
    with pytest.raises(ValidationRefused, match="names no image or video"):
        decide(case.ws, _request(("#nothing",)))
    with pytest.raises(ValidationRefused, match="neither an address nor a CSS selector"):
        decide(case.ws, _request(("img[[",)))
    with pytest.raises(ValidationRefused, match="only a validated item"):
        decide(case.ws, _request(("#gang",), "rejected"))
    assert case.ws.audit.size() == before


def test_a_recorded_mark_is_in_the_validated_event(case: Built) -> None:
    row = decide(case.ws, _request(("#gang", "/media/u/8.jpg")))
    assert row is not None
    event = [e for e in case.ws.audit.events() if e.action == "item.validated"][-1]
    from vetting.store.personal import is_commitment

    # an address names the candidate's pages: the event carries commitments, the values live apart
    assert len(event.payload["evidence_images"]) == 2 and all(map(is_commitment, event.payload["evidence_images"]))
    assert "/media/u/8.jpg" not in str(event.payload)
    from vetting.reports.redaction import picture_job

    job = picture_job(case.ws, "item-kim-r-photo")
    assert not isinstance(job, str) and job.evidence_images == ("#gang", "/media/u/8.jpg")


def test_decisions_file_and_cli_take_marks(case: Built, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("decisions:\n  - item: item-kim-r-photo\n    decision: validated\n"
                   "    reason: disclosed account, reviewed\n    by: Det. Sam Ortiz\n"
                   "    evidence_images: ['#nothing']\n")
    from vetting.domain.yamlsource import InputError

    with pytest.raises(InputError) as err:
        apply_decisions_file(case.ws, bad)
    assert "names no image or video" in str(err.value.problems[0]) and "bad.yaml" in str(err.value.problems[0])
    case.ws.engine.dispose()
    result = vet("validate", "item-kim-r-photo", "--decision", "validated", "--reason", "disclosed account, reviewed",
                 "--by", "Det. Sam Ortiz", "--evidence-image", "video.missing", workspace=case.ws.root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "refused: --evidence-image 'video.missing' names no image or video of the archived page"]
    result = vet("validate", "item-kim-r-photo", "--decision", "validated", "--reason", "disclosed account, reviewed",
                 "--by", "Det. Sam Ortiz", "--evidence-image", "#gang", workspace=case.ws.root)
    assert result.returncode == 0, result.stderr


def test_media_addresses_list_what_can_be_marked() -> None:
    from vetting.review.evidence_images import media_addresses

    assert media_addresses(PAGE, URL) == ["https://pics.example/media/u/7.jpg", "https://pics.example/media/u/8.jpg",
                                          "https://pics.example/v/1.mp4"]
    assert all(marked_media(PAGE, URL, a) == 1 for a in media_addresses(PAGE, URL))


def test_vet_review_lists_the_pictures_an_investigator_can_mark(case: Built) -> None:
    case.ws.engine.dispose()
    result = vet("review", case.case_id("kim-r"), workspace=case.ws.root)
    assert result.returncode == 0, result.stderr
    assert "--evidence-image" in result.stdout and "https://social.example/media/u/7.jpg" in result.stdout
