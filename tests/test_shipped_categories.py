"""The shipped procedure's review categories: conduct is flagged, opinion and context are not."""

from __future__ import annotations

import pytest
from conftest import SHIPPED

from vetting.domain.procedure import load_procedure
from vetting.screening.leads import screen, screening_categories

CATEGORIES = screening_categories(load_procedure(SHIPPED).procedure.categories)


def flagged(text: str) -> set[str]:
    return {f.category_id for f in screen(text, CATEGORIES, lookback_years=None).flags}


@pytest.mark.parametrize("text", [
    # political speech is never a category (policy 261-1; DESIGN invariant 6)
    "The 2020 election was stolen.",
    "The senator took shots at the governor in the debate.",
    "Congress wasted billions on that bill.",
    "Our campaign crew knocked on 400 doors for the levy.",
    "Ban the AR-15 now.",
    "Pepper spray was used on protesters; I condemn it.",
    "Vote yes on the parks levy in November!",
    "I support the police union's endorsement of the mayor.",
    # lawful context
    "Range day with Dad, range safety officer on the line, fifty rounds through the new rifle at paper targets.",
    "Opening day of deer season: rifle zeroed, hunting license in my pocket.",
    "Two years sober today, grateful for my recovery group.",
    "This damn traffic is shit.",  # profanity is not obscenity
])
def test_no_lead(text: str) -> None:
    assert flagged(text) == set()


@pytest.mark.parametrize("text,category", [
    ("Honestly those Catholics down on Maple Street are ruining this neighborhood.", "bias-speech"),
    ("Vegas bachelorette weekend was NSFW from start to finish.", "obscene-speech"),
    ("POV: 120 mph on I-435 at 2 AM, street racing the Street Kings.", "reckless-behavior"),
    ("Got blackout drunk at the lake and still drove home.", "reckless-behavior"),
    ("Here's the mugshot of the guy they picked up for the burglaries.", "criminal-justice-information"),
    ("Pending investigation my foot, this suspect is guilty.", "criminal-justice-information"),
    ("NYE at the club, making it rain with a stack of cash and a row of shots on the bar.", "alcohol-cash-drugs"),
    ("Throwing up sets with the 435 Street Kings downtown.", "gang-signs"),
    ("Pointing my pistol at the camera like a movie poster, who wants to test me lol", "tactical-instruments"),
    ("The baton and OC spray came in the mail. Next guy who mouths off at the bar gets a faceful.",
     "tactical-instruments"),
    ("Finished the design for my next tattoo: the KCPD logo with two crossed arrows.", "department-insignia"),
    ("I got a plug for stolen catalytic converters and rims, half price, no questions asked.",
     "unlawful-association"),
])
def test_conduct_is_a_lead(text: str, category: str) -> None:
    assert category in flagged(text)
