"""Seeded, deterministic synthetic news briefs: filler corpora for regression tests and scale benchmarks.

Each brief is a title line, 2–4 section headings and paragraphs of 2–4 sentences (12–30 words each), on one
of six everyday beats (sports results, weather, local councils, company earnings, science, transport), with
places, people, organisations, numbers and dates drawn from seeded pools. The briefs are deliberately
generic: nothing here is keyed to any test question.

`generate_briefs` is pure (no I/O, no global random state: one `random.Random(seed)`) and fast enough to
produce a 100k-passage corpus in a few seconds.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TOPICS", "SyntheticBrief", "generate_briefs"]


@dataclass(frozen=True, slots=True)
class SyntheticBrief:
    """One generated brief: a valid doc_id, its text (title line first), its outlet and its ISO date."""

    doc_id: str
    text: str
    source: str
    published: str  # YYYY-MM-DD
    title: str
    topic: str


# --- shared pools -----------------------------------------------------------------------------------------------

TOWNS = (
    "Ashford", "Millbrook", "Harrowgate", "Linden Bay", "Stonebridge", "Eastwick", "Fairhaven", "Oakmere",
    "Redcliff", "Westbury", "Glenmoor", "Kingsport", "Thornton Vale", "Brackwater", "Elmsworth", "Northgate",
    "Silverdale", "Pennick", "Carrow", "Hollins Cross", "Marwood", "Dunmore", "Ravensby", "Coldharbour",
)
FIRST_NAMES = (
    "Anna", "Marcus", "Priya", "Tomas", "Helen", "Daniel", "Grace", "Oliver", "Nadia", "Samuel", "Ruth", "Leo",
    "Imogen", "Victor", "Clara", "Joel", "Maya", "Felix", "Irene", "Hugo", "Zara", "Martin", "Elena", "Owen",
)
LAST_NAMES = (
    "Whitfield", "Okafor", "Lindqvist", "Moreno", "Hartley", "Brennan", "Castellano", "Dubois", "Nakamura",
    "Fairbairn", "Kowalski", "Ashworth", "Petrov", "Gallagher", "Rahman", "Sutherland", "Varga", "Holloway",
    "Mbeki", "Lindgren", "Carvalho", "Thorne", "Reyes", "Albright",
)
SOURCES = (
    "Northern Ledger", "Coastal Times", "Valley Gazette", "Metro Wire", "County Herald", "Harbour Post",
    "Evening Dispatch", "Lakeside Courier", "Market Report", "Civic Bulletin", "Science Desk", "Transit Weekly",
)
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DAY = dt.date(2024, 1, 1)
SPAN_DAYS = 1095  # publication dates fall in 2024–2026

# --- beats --------------------------------------------------------------------------------------------------------
# Slots every beat may use: {town}, {town2}, {person}, {person2}, {day}, {date}, {month}, {n1}..{n4} (small
# counts), {pct}, {pct2} (percentages), {money} ({money2}) in millions, {year}; each beat adds its own.

SPORTS = {
    "titles": (
        "{team} Beat {team2} in a Tense {league} Derby",
        "{team} Climb to Second After Win Over {team2}",
        "Late Goal Lifts {team} Past {team2}",
        "{team2} Hold {team} to a Draw in {town}",
        "{person} Scores Twice as {team} Stay Unbeaten",
    ),
    "headings": (
        "Match Report", "How the Game Turned", "Coach Reaction", "Injury News", "The Table", "Next Fixtures",
        "Fans and Attendance", "Key Moments",
    ),
    "sentences": (
        "{team} beat {team2} {n1}-{n2} on {day} evening in front of a crowd of {crowd} at the {ground} in {town}.",
        "Striker {person} opened the scoring after {minute} minutes with a low shot that skidded past the keeper.",
        "{team2} pulled level shortly after the break when their captain headed in a corner from the left.",
        "The winning goal came in the {minute2}th minute, when a long ball caught the visiting defence too high.",
        "Coach {person2} said his players had shown real patience and deserved the points after a difficult week.",
        "The result lifts {team} to second place in the {league}, {n3} points behind the leaders with {n4} games "
        "left.",
        "{team2} have now gone {n3} matches without a win and sit just above the relegation places.",
        "Defender {person2} limped off before half-time with a hamstring problem and will have a scan on {day}.",
        "Attendance was the highest at the ground this season, and the club thanked supporters for the "
        "atmosphere.",
        "Both sides had chances in a lively opening half, with {team2} hitting the post twice in five minutes.",
        "{team} travel to {town2} next weekend before hosting the cup holders in the quarter-final on {date}.",
        "The referee showed {n2} yellow cards, and {team2} finished the match with ten players after a late "
        "red card.",
        "Club officials confirmed that season ticket sales had risen by {pct} percent compared with last year.",
        "{person} now has {n4} goals in the league this season, two fewer than the division's top scorer.",
        "Local businesses near the ground reported a busy evening as fans stayed on after the final whistle.",
        "The youth academy graduate made his first start and was substituted to a standing ovation late on.",
    ),
}
WEATHER = {
    "titles": (
        "Storm {storm} Brings Gales and Flooding to {town}",
        "Heatwave Warning Issued for {town} and Surrounding Areas",
        "Heavy Snow Closes Roads Around {town}",
        "Dry Spell Leaves {town} Reservoirs Below Average",
        "Fog and Frost Expected Across {town} This Week",
    ),
    "headings": (
        "The Forecast", "Travel Disruption", "Warnings in Place", "Advice for Residents", "Farmers and Growers",
        "Looking Ahead", "Power and Water",
    ),
    "sentences": (
        "Forecasters expect gusts of up to {wind} kilometres per hour along the coast near {town} on {day}.",
        "Up to {rain} millimetres of rain could fall in {n1} hours, enough to flood low-lying fields and lanes.",
        "The weather service has issued an amber warning for wind that runs until midnight on {day}.",
        "Temperatures are forecast to reach {temp} degrees by the weekend, well above the average for {month}.",
        "Overnight frost is likely in sheltered valleys, with temperatures dropping to minus {n1} degrees.",
        "Drivers have been told to allow extra time, as fallen trees have already blocked {n2} rural roads.",
        "Engineers restored power to around {homes} homes in {town2} after cables were damaged overnight.",
        "The water company said reservoir levels stood at {pct} percent, compared with {pct2} percent a year ago.",
        "Farmers said the wet spring had delayed planting by about {n3} weeks on the heavier clay soils.",
        "Residents living near the river have been advised to move valuables upstairs and keep sandbags ready.",
        "Ferry crossings from {town} were cancelled for the morning as waves of {n2} metres were reported.",
        "Meteorologist {person} said the settled spell should return by the middle of next week.",
        "Schools in {town2} will open as normal, although some bus routes may run later than usual.",
        "The council opened a rest centre at the community hall for anyone forced to leave their home.",
        "A yellow warning for ice covers the hills above {town} from {day} evening until the following morning.",
        "Local volunteers checked on elderly neighbours and handed out blankets during the coldest nights.",
    ),
}
COUNCIL = {
    "titles": (
        "{town} Council Approves New Cycle Lanes on {street}",
        "{town} Councillors Vote to Keep Library Open",
        "Budget Row Delays {town} Housing Plan",
        "{town} Council Raises Parking Charges in the Town Centre",
        "Plans for New Swimming Pool in {town} Move Forward",
    ),
    "headings": (
        "The Vote", "What the Plan Includes", "Objections", "Cost and Funding", "What Happens Next",
        "Residents Respond", "Background",
    ),
    "sentences": (
        "Councillors in {town} voted {n4} to {n2} on {day} night to approve the scheme after a three-hour debate.",
        "The plan includes {n3} kilometres of protected cycle lanes along {street} and two new pedestrian "
        "crossings.",
        "Council leader {person} said the decision would make the town centre safer for children walking to "
        "school.",
        "Opposition members argued that the project would cost {money} million and should wait until next year.",
        "A public consultation drew {responses} responses, with a narrow majority in favour of the changes.",
        "Shop owners on {street} warned that losing parking spaces could drive customers to out-of-town stores.",
        "Work is expected to begin in {month} and finish before the end of the following year.",
        "The council will fund most of the scheme from a regional transport grant worth {money2} million.",
        "Parking charges will rise by {pct} percent from {date}, the first increase in four years.",
        "Residents' association chair {person2} said neighbours had been asking for better street lighting for "
        "years.",
        "The library will stay open on {n1} days a week, with volunteers covering the Saturday opening hours.",
        "Officers said {homes} new homes could be built on the former depot site if the plan is approved.",
        "A final decision on the swimming pool design will be taken at the planning meeting on {date}.",
        "The authority must still close a budget gap of {money2} million before setting next year's council tax.",
        "Several residents spoke at the meeting, some in favour and others asking for the vote to be delayed.",
        "Council officers will publish a full list of the affected streets on the authority's website next week.",
    ),
}
EARNINGS = {
    "titles": (
        "{company} Profit Rises as Demand Holds Up",
        "{company} Shares Fall After Weaker Sales Forecast",
        "{company} Reports Record Revenue for the Quarter",
        "{company} Cuts Costs as Orders Slow",
        "{company} Raises Dividend After Strong Year",
    ),
    "headings": (
        "The Numbers", "Outlook", "Market Reaction", "Costs and Jobs", "What Analysts Say", "Dividend",
        "Divisions",
    ),
    "sentences": (
        "{company} reported quarterly revenue of {money} million, up {pct} percent from the same period last "
        "year.",
        "Operating profit rose to {money2} million, helped by higher prices and lower energy costs at its plants.",
        "Chief executive {person} said demand from retail customers had held up better than the company expected.",
        "Shares in {company} fell {pct2} percent in early trading after the firm trimmed its full-year outlook.",
        "The company expects sales growth of between {n1} and {n3} percent for the rest of the financial year.",
        "Analysts had forecast slightly lower revenue, according to a survey of brokers compiled before the "
        "results.",
        "The board proposed a final dividend of {cents} cents per share, to be paid to shareholders in {month}.",
        "{company} said it would close {n2} smaller warehouses and move the work to its site near {town}.",
        "About {jobs} jobs are expected to go over the next two years as part of the cost-cutting programme.",
        "Finance director {person2} said the firm had paid down debt and now had room to invest in new products.",
        "Sales in the industrial division grew fastest, while the consumer business was flat compared with last "
        "year.",
        "The company opened {n2} new stores during the quarter and plans to open a further {n4} before "
        "December.",
        "Currency movements reduced reported revenue by around {money2} million, the company said in a "
        "statement.",
        "Investors will look for more detail on the new strategy at the capital markets day on {date}.",
        "Staff will receive a one-off bonus after the firm beat its profit target for the second year running.",
        "The results were published before the market opened on {day}, a week earlier than usual.",
    ),
}
SCIENCE = {
    "titles": (
        "Researchers Find New Species of Frog in {region} Forest",
        "Telescope Spots Comet Heading for the Inner Solar System",
        "Study Links Urban Trees to Cooler Summer Nights",
        "{institute} Team Builds Faster Battery for Small Devices",
        "Ancient Settlement Uncovered Near {town}",
    ),
    "headings": (
        "The Discovery", "How the Study Worked", "Why It Matters", "Next Steps", "Funding", "Other Findings",
        "Expert View",
    ),
    "sentences": (
        "Researchers at the {institute} published their findings in a peer-reviewed journal on {day}.",
        "The team spent {n3} months collecting samples from {n4} sites across the {region} before the analysis.",
        "Lead author {person} said the results were surprising and would need to be confirmed by other groups.",
        "The new frog measures just {n1} centimetres long and was first heard calling near a mountain stream.",
        "Streets with dense tree cover were on average {n2} degrees cooler at night than those without trees.",
        "The prototype battery recharged to {pct} percent in under ten minutes during laboratory tests.",
        "Archaeologists found pottery, tools and the outlines of {n4} houses dating back about {years} years.",
        "The comet will make its closest approach to the sun in {month}, when it may be visible with binoculars.",
        "The project received {money2} million in public funding and involved scientists from {n3} countries.",
        "Independent expert {person2} said the method was sound but the sample size was still fairly small.",
        "The researchers plan to return to the site next spring to study how the population changes over time.",
        "Data from the study will be made freely available so that other teams can test the conclusions.",
        "Local volunteers helped record temperatures using low-cost sensors fixed to lamp posts around {town}.",
        "Previous surveys of the area had recorded {n2} frog species, none of them matching the new find.",
        "The university said a small exhibition about the discovery would open at the town museum in {month}.",
        "Engineers hope a commercial version of the battery could reach the market within {n1} years.",
    ),
}
TRANSPORT = {
    "titles": (
        "{line} Line Closed for Weekend Engineering Work",
        "New Bus Route Links {town} and {town2}",
        "{town} Station Upgrade Finished Ahead of Schedule",
        "Fares Rise on {town} Trams From Next Month",
        "Roadworks on the {road} to Last Until Summer",
    ),
    "headings": (
        "What Is Changing", "Replacement Services", "Cost of the Work", "Passenger Reaction", "Timetable",
        "Why the Work Is Needed", "Getting Around",
    ),
    "sentences": (
        "Trains on the {line} line will not run between {town} and {town2} from {day} evening until Monday "
        "morning.",
        "Replacement buses will run every {n3} minutes and stop outside the main entrance of each station.",
        "The work will replace {n2} kilometres of worn track and upgrade the signalling near the junction.",
        "The new bus route will run every {n1}0 minutes on weekdays and hourly on Sundays and public holidays.",
        "Operator spokesperson {person} said the upgrade would cut journey times by about {n3} minutes.",
        "Fares will rise by an average of {pct} percent from {date}, although child tickets will be frozen.",
        "The station now has step-free access to every platform, a larger waiting room and {n4} new ticket "
        "machines.",
        "Passenger group chair {person2} welcomed the new route but said evening services were still too "
        "sparse.",
        "The upgrade cost {money} million and was finished {n1} weeks earlier than planned.",
        "Roadworks on the {road} will close one lane in each direction between junctions {n1} and {n3}.",
        "Drivers are advised to use the ring road, as delays of up to {n4}0 minutes are expected at peak times.",
        "About {riders} passengers use the line on a typical weekday, according to the operator's latest "
        "figures.",
        "Cycle parking at the station has been doubled, with space for {n4}0 bikes in a covered shelter.",
        "The transport authority said it would review the timetable in {month} after listening to passengers.",
        "Night buses will continue to run as normal, but some early services will start from a different stop.",
        "Engineers will also repair a bridge over the river that has been under a weight limit since last "
        "winter.",
    ),
}
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "sports": SPORTS,
    "weather": WEATHER,
    "council": COUNCIL,
    "earnings": EARNINGS,
    "science": SCIENCE,
    "transport": TRANSPORT,
}

TEAMS = (
    "Ashford Rovers", "Millbrook United", "Redcliff Athletic", "Westbury Town", "Glenmoor City", "Kingsport FC",
    "Fairhaven Wanderers", "Oakmere Albion", "Stonebridge Rangers", "Eastwick Harriers", "Northgate Villa",
    "Silverdale Swifts",
)
LEAGUES = ("Northern Premier League", "County Championship", "Coastal League", "Regional First Division")
GROUNDS = ("Riverside Stadium", "Park Lane Ground", "Victoria Park", "Mill Road Arena", "Quarry Field")
STORMS = ("Agnes", "Bertil", "Cora", "Dmitri", "Elsa", "Fergus", "Greta", "Hamish", "Isla", "Jonas")
STREETS = ("Market Street", "High Street", "Station Road", "Church Lane", "Mill Road", "Harbour Way", "Queen Street")
COMPANIES = (
    "Halden Foods", "Brightwater Energy", "Corvid Logistics", "Nordmark Steel", "Pellucid Software",
    "Greystone Retail", "Tallis Pharma", "Ambrose Paper", "Kestrel Motors", "Lumen Textiles", "Orchard Dairies",
)
INSTITUTES = (
    "Marwood University", "Institute of Coastal Studies", "Kingsport Polytechnic", "Linden Research Centre",
    "National Soil Laboratory", "Northgate Observatory",
)
REGIONS = ("northern highlands", "eastern lowlands", "river delta", "coastal hills", "upland plateau")
LINES = ("Harbour", "Valley", "Orbital", "Riverside", "Northern", "Airport")
ROADS = ("A41", "B2210", "M62", "A9", "A303", "B1042")


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _slots(rng: random.Random, published: dt.date) -> dict[str, str]:
    """Every slot value one brief may use (one consistent cast and set of figures per brief)."""
    town, town2 = rng.sample(TOWNS, 2)
    team, team2 = rng.sample(TEAMS, 2)
    event = published + dt.timedelta(days=rng.randint(3, 60))
    n1, n2, n3, n4 = (str(rng.randint(lo, hi)) for lo, hi in ((2, 5), (1, 4), (3, 9), (5, 12)))
    return {
        "town": town,
        "town2": town2,
        "person": _person(rng),
        "person2": _person(rng),
        "day": rng.choice(WEEKDAYS),
        "date": f"{event.day} {MONTHS[event.month - 1]}",
        "month": MONTHS[rng.randrange(12)],
        "n1": n1,
        "n2": n2,
        "n3": n3,
        "n4": n4,
        "pct": str(rng.randint(3, 28)),
        "pct2": str(rng.randint(2, 19)),
        "money": f"{rng.randint(12, 950)}.{rng.randint(0, 9)}",
        "money2": f"{rng.randint(2, 90)}.{rng.randint(0, 9)}",
        "team": team,
        "team2": team2,
        "league": rng.choice(LEAGUES),
        "ground": rng.choice(GROUNDS),
        "crowd": f"{rng.randint(3, 41)},{rng.randint(0, 999):03d}",
        "minute": str(rng.randint(4, 38)),
        "minute2": str(rng.randint(71, 89)),
        "storm": rng.choice(STORMS),
        "wind": str(rng.randrange(70, 140, 5)),
        "rain": str(rng.randrange(20, 120, 5)),
        "temp": str(rng.randint(29, 38)),
        "homes": f"{rng.randint(1, 19)},{rng.randrange(0, 1000, 50):03d}",
        "street": rng.choice(STREETS),
        "responses": f"{rng.randint(1, 9)},{rng.randint(0, 999):03d}",
        "company": rng.choice(COMPANIES),
        "cents": str(rng.randint(4, 60)),
        "jobs": str(rng.randrange(80, 1500, 10)),
        "institute": rng.choice(INSTITUTES),
        "region": rng.choice(REGIONS),
        "years": f"{rng.randint(2, 7)},{rng.randrange(0, 1000, 100):03d}",
        "line": rng.choice(LINES),
        "road": rng.choice(ROADS),
        "riders": f"{rng.randint(4, 95)},{rng.randrange(0, 1000, 100):03d}",
    }


def _chunks(rng: random.Random, total: int, parts: int, smallest: int, largest: int) -> list[int]:
    """`total` split into `parts` sizes, each between smallest and largest (caller guarantees it is possible)."""
    sizes = [smallest] * parts
    spare = total - smallest * parts
    while spare > 0:
        room = [i for i, size in enumerate(sizes) if size < largest]
        sizes[rng.choice(room)] += 1
        spare -= 1
    return sizes


def _paragraphs(rng: random.Random, count: int) -> list[int]:
    """A section's sentence count cut into paragraphs of 2–4 sentences (one paragraph of 1 only if count is 1)."""
    if count <= 4:
        return [count]
    parts = rng.randint(-(-count // 4), count // 2)
    return _chunks(rng, count, parts, 2, 4)


def _render(template: str, slots: dict[str, str]) -> str:
    return template.format_map(slots)


def _brief(rng: random.Random, index: int, low: int, high: int) -> SyntheticBrief:
    topic = rng.choice(tuple(TOPICS))
    beat = TOPICS[topic]
    published = FIRST_DAY + dt.timedelta(days=rng.randrange(SPAN_DAYS))
    slots = _slots(rng, published)
    title = _render(rng.choice(beat["titles"]), slots)
    total = rng.randint(low, high)
    section_count = rng.randint(2, min(4, total // 2))
    headings = rng.sample(beat["headings"], section_count)
    sentences: Sequence[str] = rng.sample(beat["sentences"], total)
    lines = [title]
    at = 0
    for heading, size in zip(headings, _chunks(rng, total, section_count, 2, total), strict=True):
        lines.append(heading)
        for length in _paragraphs(rng, size):
            lines.append(" ".join(_render(s, slots) for s in sentences[at : at + length]))
            at += length
    return SyntheticBrief(
        doc_id=f"brief-{index:06d}-{topic}",
        text="\n".join(lines) + "\n",
        source=rng.choice(SOURCES),
        published=published.isoformat(),
        title=title,
        topic=topic,
    )


def generate_briefs(
    count: int, seed: int = 0, sentences_per_brief: tuple[int, int] = (6, 14)
) -> list[SyntheticBrief]:
    """`count` briefs, the same for the same arguments; doc_ids are `brief-000000-<topic>`, `brief-000001-...`.

    sentences_per_brief is the inclusive range of body sentences per brief (4 to 16: every brief has at least
    two sections of at least two sentences, and a beat has 16 distinct sentence templates).
    """
    low, high = sentences_per_brief
    longest = min(len(beat["sentences"]) for beat in TOPICS.values())
    if count < 0 or not 4 <= low <= high <= longest:
        raise ValueError(f"need count >= 0 and 4 <= low <= high <= {longest}, got {count}, {sentences_per_brief}")
    rng = random.Random(seed)
    return [_brief(rng, index, low, high) for index in range(count)]
