"""Write the realistic public-format datasets of the validity set (benchmarks/validity/datasets/).

Each folder is laid out the way the HF hub (or its legacy loaders) gives a dataset: a README.md card
whose YAML front matter declares dataset_info/features (nested features, multiple-choice dicts,
ClassLabel names), split-named data files, and in one case a stray provenance JSON beside the data.
Every row was written for instructkit; the shapes copy ARC, CommonsenseQA, DROP, MNLI, XSum, Yahoo
Answers Topics, SST-2, CommonGen, GSM8K, CoNLL-2003 and MRPC.

    python benchmarks/validity/make_datasets.py      # rewrites the folders (deterministic)
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).parent / "datasets"


def write(name: str, card: str, rows: list[dict], extra: dict[str, object] | None = None,
          file: str = "train.jsonl") -> None:
    d = ROOT / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "README.md").write_text(card.strip() + "\n", encoding="utf-8")
    (d / file).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for fname, content in (extra or {}).items():
        (d / fname).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def mc(labels: str, texts: list[str]) -> dict:
    return {"text": texts, "label": list(labels)}


ARC = [
    ("Which property of a mineral can be determined just by looking at it?", ["luster", "mass", "weight", "hardness"], "A"),
    ("A student mixes baking soda and vinegar and sees bubbles. What do the bubbles show?", ["a physical change only", "a gas was produced", "the mixture froze", "no reaction happened"], "B"),
    ("Which of these is a renewable energy source?", ["coal", "natural gas", "wind", "oil"], "C"),
    ("What causes day and night on Earth?", ["Earth orbiting the Sun", "the Moon's phases", "Earth rotating on its axis", "the tilt of the Sun"], "C"),
    ("Which organ pumps blood through the human body?", ["lungs", "heart", "liver", "kidneys"], "B"),
    ("An ice cube left on a table turns into water. This is an example of", ["condensation", "freezing", "melting", "evaporation"], "C"),
    ("Which tool is best for measuring the volume of a liquid?", ["graduated cylinder", "ruler", "balance", "thermometer"], "A"),
    ("Plants take in which gas from the air to make food?", ["oxygen", "nitrogen", "helium", "carbon dioxide"], "D"),
    ("Which layer of Earth is made of hot liquid metal?", ["crust", "mantle", "outer core", "inner core"], "C"),
    ("What is the main job of a plant's roots?", ["making seeds", "taking in water", "catching sunlight", "attracting insects"], "B"),
    ("A ball rolls to a stop on grass. Which force slows it down?", ["magnetism", "friction", "gravity pulling up", "buoyancy"], "B"),
    ("Which of these animals is a vertebrate?", ["earthworm", "jellyfish", "frog", "snail"], "C"),
    ("What happens to most metals when they are heated?", ["they expand", "they shrink", "they become magnetic", "they dissolve"], "A"),
    ("Which part of the cell contains genetic material?", ["cell wall", "nucleus", "vacuole", "membrane"], "B"),
    ("Fossils are most often found in which kind of rock?", ["igneous", "metamorphic", "sedimentary", "volcanic glass"], "C"),
    ("Which unit is used to measure force?", ["newton", "liter", "meter", "kelvin"], "A"),
    ("Why does the Moon appear to shine?", ["it makes its own light", "it reflects sunlight", "it burns gas", "it glows from heat"], "B"),
    ("Which simple machine is a ramp?", ["lever", "pulley", "inclined plane", "wheel and axle"], "C"),
    ("What do we call animals that eat only plants?", ["carnivores", "omnivores", "decomposers", "herbivores"], "D"),
    ("Which state of matter has a fixed shape?", ["solid", "liquid", "gas", "plasma"], "A"),
    ("Sound travels fastest through which material?", ["air", "water", "steel", "a vacuum"], "C"),
    ("Which planet is closest to the Sun?", ["Venus", "Mercury", "Mars", "Earth"], "B"),
]


def arc() -> None:
    card = """---
pretty_name: ARC-style Science Questions (instructkit validity set)
license: cc-by-sa-4.0
task_categories:
- question-answering
task_ids:
- multiple-choice-qa
configs:
- config_name: default
  data_files:
  - split: train
    path: train.jsonl
dataset_info:
  features:
  - name: id
    dtype: string
  - name: question
    dtype: string
  - name: choices
    sequence:
    - name: text
      dtype: string
    - name: label
      dtype: string
  - name: answerKey
    dtype: string
  splits:
  - name: train
    num_examples: 22
---

# ARC-style science questions

## Dataset Summary

Grade-school science questions with four answer options each, in the format of the AI2 Reasoning
Challenge: `choices` holds the option texts and their letters, `answerKey` the letter of the correct one.
"""
    rows = [{"id": f"Mercury_{7000 + i}", "question": q, "choices": mc("ABCD", c), "answerKey": a}
            for i, (q, c, a) in enumerate(ARC)]
    write("arc_style", card, rows)


CSQA = [
    ("Where would you put a plate after washing it?", "plate", ["cupboard", "table", "restaurant", "flea market", "dishwasher"], "A"),
    ("What do people usually do when they feel tired at night?", "tired", ["run", "go to sleep", "eat breakfast", "shout", "paint"], "B"),
    ("Where can you buy a loaf of bread?", "bread", ["library", "garage", "bakery", "forest", "classroom"], "C"),
    ("What might a person feel after winning a race?", "winning", ["sadness", "boredom", "fear", "pride", "hunger"], "D"),
    ("Where is a good place to keep milk cold?", "milk", ["oven", "refrigerator", "drawer", "mailbox", "attic"], "B"),
    ("What would you use to cut paper?", "paper", ["scissors", "spoon", "pillow", "glue", "stapler"], "A"),
    ("Where do you usually find a pilot at work?", "pilot", ["kitchen", "farm", "cockpit", "hospital", "beach"], "C"),
    ("What do you need to do before you can read a closed book?", "book", ["close it", "open it", "burn it", "sell it", "lose it"], "B"),
    ("Where would you see many paintings hanging on walls?", "paintings", ["museum", "swimming pool", "parking lot", "desert", "tunnel"], "A"),
    ("What happens to water when it is boiled for a long time?", "water", ["it freezes", "it turns green", "it evaporates", "it grows", "it sings"], "C"),
    ("Where do children usually learn to read and write?", "children", ["office", "school", "prison", "bank", "airport"], "B"),
    ("What could you use to dry yourself after a shower?", "shower", ["towel", "umbrella", "sponge", "candle", "book"], "A"),
    ("If you want to listen to music privately, what do you use?", "music", ["speakers", "radio tower", "microphone", "headphones", "drum"], "D"),
    ("Where might you find a cactus growing naturally?", "cactus", ["ocean", "glacier", "desert", "rainforest floor", "cave"], "C"),
    ("What do you do with a key to open a locked door?", "key", ["paint it", "turn it in the lock", "throw it", "bury it", "fold it"], "B"),
    ("What is a common reason people go to a dentist?", "dentist", ["a toothache", "a flat tyre", "a broken window", "a lost dog", "a haircut"], "A"),
    ("Where would you store winter coats during summer?", "coats", ["freezer", "closet", "bathtub", "garden", "car engine"], "B"),
    ("What does a farmer use to grow crops?", "farmer", ["seeds", "laptops", "anchors", "ladders", "kites"], "A"),
    ("Where do people go to borrow books for free?", "books", ["bookstore", "library", "stadium", "bakery", "gym"], "B"),
    ("What might happen if you forget to water a plant for weeks?", "plant", ["it blooms more", "it wilts", "it walks away", "it turns to stone", "it sings"], "B"),
]


def csqa() -> None:
    card = """---
pretty_name: CommonsenseQA-style questions (instructkit validity set)
license: mit
dataset_info:
  features:
  - name: id
    dtype: string
  - name: question
    dtype: string
  - name: question_concept
    dtype: string
  - name: choices
    sequence:
    - name: label
      dtype: string
    - name: text
      dtype: string
  - name: answerKey
    dtype: string
  splits:
  - name: train
    num_examples: 20
---

# CommonsenseQA-style

## Dataset Summary

Multiple-choice questions that need everyday common sense. Each question names a concept
(`question_concept`) and has five options (`choices`, lettered A-E); `answerKey` is the letter of the
best option.
"""
    rows = [{"id": f"{i:032x}"[-32:], "question": q, "question_concept": c,
             "choices": {"label": list("ABCDE"), "text": t}, "answerKey": a}
            for i, (q, c, t, a) in enumerate(CSQA, 1)]
    write("csqa_style", card, rows)


DROP = [
    ("The city council met in 1998 and again in 2004 to vote on the new bridge, which finally opened in 2009 after five years of building.", "In which year did the bridge open?", ["2009"], ["date"]),
    ("The Hawks scored 14 points in the first quarter and 21 in the second, while the Bears managed only 10 before half-time.", "How many points did the Hawks score in the first half?", ["35"], ["number"]),
    ("Maria moved from Lisbon to Porto in 2010, then to Madrid in 2015, where she opened a small bakery.", "Which city did Maria move to first?", ["Porto"], ["span"]),
    ("The museum has 120 paintings, 45 sculptures and 30 photographs on display this season.", "How many more paintings than sculptures are on display?", ["75"], ["number"]),
    ("After the storm, 300 homes lost power; by evening crews had restored power to 220 of them.", "How many homes were still without power in the evening?", ["80"], ["number"]),
    ("The expedition left the coast on 3 March and reached the summit on 28 March.", "On what date did the expedition reach the summit?", ["28 March"], ["date"]),
    ("Tom read three books in June, five in July and two in August.", "In which month did Tom read the most books?", ["July"], ["span"]),
    ("The orchestra was founded by Anna Berg and Lars Holm, with Berg conducting its first concert.", "Who conducted the orchestra's first concert?", ["Anna Berg"], ["span"]),
    ("The train left at 9:15 and arrived at 11:45 after one short stop.", "How long did the train journey take?", ["2 hours 30 minutes"], ["span"]),
    ("Of the 40 students, 25 chose chemistry and the rest chose biology.", "How many students chose biology?", ["15"], ["number"]),
    ("The company hired 12 engineers in spring and 8 designers in autumn.", "How many people did the company hire in total?", ["20"], ["number"]),
    ("Built in 1887, the lighthouse was automated in 1961 and closed to visitors in 2002.", "How many years after it was built was the lighthouse automated?", ["74"], ["number"]),
    ("Lena finished the marathon in 3 hours 40 minutes, twenty minutes ahead of her brother Jonas.", "Who finished the marathon first?", ["Lena"], ["span"]),
    ("The bakery sold 60 croissants on Saturday and twice as many on Sunday.", "How many croissants were sold on Sunday?", ["120"], ["number"]),
    ("The festival runs for four days, starting on Thursday with a parade.", "On which day does the festival start?", ["Thursday"], ["span"]),
    ("In the vote, 56 members supported the plan, 31 opposed it and 13 abstained.", "How many members voted?", ["100"], ["number"]),
    ("The river flows north through Dalton and Kerry before reaching the sea at Port Ames.", "Where does the river reach the sea?", ["Port Ames"], ["span"]),
    ("The first edition sold 2,000 copies; the second sold 5,000 copies.", "How many more copies did the second edition sell?", ["3,000"], ["number"]),
    ("Ravi planted tomatoes and beans, but only the beans survived the frost.", "Which plants survived the frost?", ["beans", "the beans"], ["span", "span"]),
    ("The team won its first title in 1975 and its second in 1983.", "How many years passed between the two titles?", ["8"], ["number"]),
]


def drop() -> None:
    card = """---
pretty_name: DROP-style reading comprehension (instructkit validity set)
license: cc-by-sa-4.0
dataset_info:
  features:
  - name: section_id
    dtype: string
  - name: query_id
    dtype: string
  - name: passage
    dtype: string
  - name: question
    dtype: string
  - name: answers_spans
    sequence:
    - name: spans
      dtype: string
    - name: types
      dtype: string
  splits:
  - name: train
    num_examples: 20
---

# DROP-style

## Dataset Summary

Questions about short passages that need counting, adding or picking a span. `answers_spans` holds the
accepted answers (`spans`) with their kind (`types`: number, date or span). Several questions share a
passage section (`section_id`).
"""
    rows = [{"section_id": f"history_{1000 + i // 3}", "query_id": f"q{i:04d}x", "passage": p, "question": q,
             "answers_spans": {"spans": s, "types": t}} for i, (p, q, s, t) in enumerate(DROP)]
    write("drop_style", card, rows)


MNLI = [
    ("A woman is slicing tomatoes in a busy kitchen.", "Someone is preparing food.", 0, "fiction"),
    ("A woman is slicing tomatoes in a busy kitchen.", "The woman is a professional chef.", 1, "fiction"),
    ("A woman is slicing tomatoes in a busy kitchen.", "The kitchen is empty.", 2, "fiction"),
    ("The report says sales rose by ten percent last year.", "Sales went up last year.", 0, "government"),
    ("The report says sales rose by ten percent last year.", "The rise was caused by a new product.", 1, "government"),
    ("The report says sales rose by ten percent last year.", "Sales fell sharply last year.", 2, "government"),
    ("Two boys are playing football in the rain.", "Children are outside.", 0, "fiction"),
    ("Two boys are playing football in the rain.", "The boys are brothers.", 1, "fiction"),
    ("Two boys are playing football in the rain.", "The boys are watching television indoors.", 2, "fiction"),
    ("The museum closes at six on weekdays.", "The museum has opening hours on weekdays.", 0, "travel"),
    ("The museum closes at six on weekdays.", "The museum is popular with tourists.", 1, "travel"),
    ("The museum closes at six on weekdays.", "The museum is open all night on weekdays.", 2, "travel"),
    ("A man in a red jacket is fixing a bicycle chain.", "A man is repairing a bike.", 0, "fiction"),
    ("A man in a red jacket is fixing a bicycle chain.", "The man owns a bike shop.", 1, "fiction"),
    ("A man in a red jacket is fixing a bicycle chain.", "The man is asleep.", 2, "fiction"),
    ("The committee approved the budget after a long debate.", "The budget was approved.", 0, "government"),
    ("The committee approved the budget after a long debate.", "Some members wanted a larger budget.", 1, "government"),
    ("The committee approved the budget after a long debate.", "The committee rejected the budget.", 2, "government"),
    ("The ferry to the island leaves every two hours.", "There is a ferry to the island.", 0, "travel"),
    ("The ferry to the island leaves every two hours.", "The ferry is always full.", 1, "travel"),
    ("The ferry to the island leaves every two hours.", "No boats go to the island.", 2, "travel"),
    ("A girl is reading a book under a tree.", "A child is reading outdoors.", 0, "fiction"),
    ("A girl is reading a book under a tree.", "The book is about dragons.", 1, "fiction"),
    ("A girl is reading a book under a tree.", "The girl is swimming in a lake.", 2, "fiction"),
]


def mnli() -> None:
    card = """---
pretty_name: MNLI-style sentence pairs (instructkit validity set)
license: cc-by-4.0
dataset_info:
  features:
  - name: promptID
    dtype: int32
  - name: pairID
    dtype: string
  - name: premise
    dtype: string
  - name: hypothesis
    dtype: string
  - name: genre
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': entailment
          '1': neutral
          '2': contradiction
  splits:
  - name: train
    num_examples: 24
---

# MNLI-style

## Dataset Summary

Premise/hypothesis pairs from several genres. The label says whether the premise entails the
hypothesis, is neutral towards it, or contradicts it. Each premise (`promptID`) appears with three
hypotheses.
"""
    rows = [{"promptID": 31000 + i // 3, "pairID": f"{31000 + i // 3}{'enc'[i % 3]}", "premise": p,
             "hypothesis": h, "genre": g, "label": y} for i, (p, h, y, g) in enumerate(MNLI)]
    write("mnli_style", card, rows)


XSUM = [
    ("Heavy rain flooded dozens of homes in the town of Millbrook overnight, and firefighters used boats to reach residents trapped upstairs. The river rose more than two metres in six hours. Council officials opened the school hall as a shelter and said clean-up would take weeks.", "Dozens of homes in Millbrook were flooded overnight after the river rose two metres."),
    ("A local bakery has won the national award for the best sourdough loaf, beating more than 400 entries. The owners, who opened the shop three years ago, said they use a starter that is older than they are. Queues outside the shop have doubled since the news.", "A three-year-old local bakery has won the national prize for the best sourdough."),
    ("The city's first electric bus route opened on Monday, linking the train station with the hospital. The twelve buses are charged overnight at a new depot. Officials hope to convert all routes within ten years.", "The city has opened its first electric bus route, between the station and the hospital."),
    ("Scientists have found a new species of frog in the mountain forests of the north. The frog is smaller than a thumbnail and calls at a pitch too high for most people to hear. Its habitat is threatened by logging.", "A tiny new frog species with a very high-pitched call has been found in northern mountain forests."),
    ("The village library, closed for two years, reopened after volunteers raised money for a new roof. Children's reading sessions will restart next week, and the library will open on Saturdays for the first time.", "A village library has reopened after volunteers paid for its new roof."),
    ("A teenager from the coast has become the youngest person to row alone across the bay, covering 40 kilometres in nine hours. She trained for a year and raised money for the lifeboat service.", "A teenager has become the youngest person to row solo across the bay, raising money for lifeboats."),
    ("Ticket prices for the summer music festival will rise by fifteen percent, organisers said, blaming higher security and transport costs. Early-bird tickets sold out within an hour.", "The summer music festival is raising ticket prices by 15% because of higher costs."),
    ("A 200-year-old oak tree in the town square will be protected after residents collected 5,000 signatures. The council had planned to cut it down to widen the road.", "A 200-year-old oak set to be felled for a road will be protected after a petition."),
    ("The football club has appointed its former captain as head coach after a poor season. He played 300 games for the club and led it to two cup wins.", "The football club has named its former captain as head coach."),
    ("Researchers say a new blood test could spot a common eye disease years earlier than current checks. The test looks for proteins released by damaged cells. Larger trials will start next year.", "A new blood test may detect a common eye disease years earlier, researchers say."),
    ("Hundreds of volunteers cleaned the city beach on Sunday, collecting more than a tonne of plastic. Most of it was bottle caps and food wrappers.", "Volunteers collected over a tonne of plastic from the city beach."),
    ("A rare comet will be visible without a telescope next week for the first time in 70 years. Astronomers advise looking low in the western sky just after sunset.", "A rare comet will be visible to the naked eye next week for the first time in 70 years."),
    ("The regional airport will add direct flights to three capital cities from April, after a new airline agreed to base two planes there.", "The regional airport is adding direct flights to three capitals from April."),
    ("Workers at the car factory have voted to strike over pay, in the first strike at the plant for twenty years. Managers said they were disappointed and would keep talking.", "Car factory workers have voted for their first strike in 20 years over pay."),
    ("A school in the valley has banned mobile phones during lessons, and teachers say pupils are talking to each other more at break time.", "A valley school has banned phones in lessons and says pupils talk more at breaks."),
    ("The old railway line between the two towns will reopen as a cycle path next summer, after engineers repaired four bridges.", "A disused railway line will reopen as a cycle path next summer."),
    ("A stolen painting worth millions has been found in a garage, thirty years after it disappeared from a gallery. Police said it was in good condition.", "A painting stolen from a gallery 30 years ago has been found in a garage."),
    ("Water use in the city fell by a fifth during the summer after a campaign asked people to take shorter showers.", "A campaign for shorter showers cut the city's water use by a fifth."),
    ("The zoo has welcomed twin red panda cubs, the first born there. Visitors will be able to see them in the spring.", "The zoo's first red panda cubs, twins, have been born."),
    ("A new law will require all new homes to have solar panels from 2027, the government announced.", "All new homes will need solar panels from 2027 under a new law."),
]


def xsum() -> None:
    card = """---
pretty_name: XSum-style news summaries (instructkit validity set)
license: cc-by-4.0
dataset_info:
  features:
  - name: document
    dtype: string
  - name: summary
    dtype: string
  - name: id
    dtype: string
  splits:
  - name: train
    num_examples: 20
---

# XSum-style

## Dataset Summary

Short local news articles, each with a one-sentence summary that says what the article is about.
"""
    rows = [{"document": d, "summary": s, "id": str(38000000 + 17 * i)} for i, (d, s) in enumerate(XSUM)]
    write("xsum_style", card, rows)


YAHOO = [
    (0, "Why does the sky look blue?", "Sunlight is scattered by air molecules, and blue light scatters the most."),
    (0, "How do vaccines train the immune system?", "They show the body a harmless piece of a germ so it learns to make antibodies."),
    (0, "What makes a rainbow appear?", "Raindrops bend and split sunlight into its colours."),
    (0, "Why do cats purr?", "Mostly to signal comfort, but also to calm themselves when hurt."),
    (1, "How can I save money on groceries?", "Plan meals, buy store brands and never shop hungry."),
    (1, "Is it better to rent or buy a house?", "It depends on how long you will stay and the local prices."),
    (1, "How do I ask my boss for a raise?", "Show your results, know the market rate and pick a calm moment."),
    (1, "What is a good first credit card?", "One with no annual fee and a low limit you can pay off every month."),
    (2, "Who won the most Tour de France titles?", "Several riders share the record of five wins."),
    (2, "How long is a marathon?", "42.195 kilometres."),
    (2, "What muscles does swimming work?", "Almost all of them, especially shoulders, back and core."),
    (2, "How often should I run to get fitter?", "Three times a week with a rest day between runs is a good start."),
    (3, "What is the best way to learn guitar chords?", "Learn three chords well and practise switching between them daily."),
    (3, "Who wrote the song Yesterday?", "Paul McCartney, credited to Lennon-McCartney."),
    (3, "What makes a movie soundtrack memorable?", "A simple theme that returns at the key moments."),
    (3, "Are vinyl records better than streaming?", "They sound different; many like the ritual more than the sound."),
    (4, "How do I stop my laptop from overheating?", "Keep the vents clear, clean the fan and avoid soft surfaces."),
    (4, "What is the difference between RAM and storage?", "RAM holds what is in use now; storage keeps files when off."),
    (4, "Should I turn my phone off at night?", "It is not needed, but a restart now and then helps."),
    (4, "How can I make my Wi-Fi faster?", "Move the router to the middle of the home and away from walls."),
]


def yahoo() -> None:
    card = """---
pretty_name: Yahoo-Answers-style topics (instructkit validity set)
license: cc-by-4.0
dataset_info:
  features:
  - name: id
    dtype: int32
  - name: topic
    dtype:
      class_label:
        names:
          '0': Science & Mathematics
          '1': Business & Finance
          '2': Sports
          '3': Entertainment & Music
          '4': Computers & Internet
  - name: question_title
    dtype: string
  - name: best_answer
    dtype: string
  splits:
  - name: train
    num_examples: 20
---

# Yahoo-Answers-style topics

## Dataset Summary

Questions from a community question-answering site with the best answer and the topic the question was
filed under (five topics).
"""
    rows = [{"id": i, "topic": t, "question_title": q, "best_answer": a} for i, (t, q, a) in enumerate(YAHOO)]
    write("yahoo_topics_style", card, rows)


SST = [
    ("a gorgeous, witty and deeply moving film", 1), ("the plot is thin and the jokes fall flat", 0),
    ("one of the most charming comedies of the year", 1), ("a tedious, overlong mess", 0),
    ("the performances are wonderful throughout", 1), ("it never finds a reason to exist", 0),
    ("smart, funny and surprisingly tender", 1), ("the dialogue is clumsy and the pacing drags", 0),
    ("a triumph of quiet, careful storytelling", 1), ("i was bored within ten minutes", 0),
    ("beautifully shot and well acted", 1), ("a lazy sequel that adds nothing", 0),
    ("the cast makes every scene a pleasure", 1), ("predictable from start to finish", 0),
    ("a warm film that earns its tears", 1), ("the ending is a cheap trick", 0),
    ("fresh, lively and full of ideas", 1), ("a forgettable, joyless exercise", 0),
    ("you will leave the theatre smiling", 1), ("too long, too loud and too dull", 0),
]


def sst_with_stray_json() -> None:
    card = """---
pretty_name: SST-2-style movie review phrases, with a stray provenance file (instructkit validity set)
license: cc-by-4.0
dataset_info:
  features:
  - name: idx
    dtype: int32
  - name: sentence
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': negative
          '1': positive
  splits:
  - name: train
    num_examples: 20
---

# SST-2-style

## Dataset Summary

Phrases from movie reviews labelled with their sentiment (negative or positive). The folder also holds
`source.json`, a provenance note that is not part of the data.
"""
    rows = [{"idx": i, "sentence": s, "label": y} for i, (s, y) in enumerate(SST)]
    note = {"collected_by": "instructkit maintainers", "collection_date": "2024-05-01",
            "tool_version": "scraper 2.3.1", "notes": "phrases rewritten by hand"}
    write("sst2_stray_json", card, rows, extra={"source.json": note})


COMMONGEN = [
    (["dog", "frisbee", "catch", "throw"], "A man throws a frisbee and his dog jumps to catch it."),
    (["field", "farmer", "tractor", "plough"], "The farmer drives his tractor to plough the field."),
    (["cake", "candle", "blow", "birthday"], "The girl blows out the candles on her birthday cake."),
    (["river", "boat", "row", "morning"], "Two friends row a boat down the river in the morning."),
    (["snow", "child", "build", "snowman"], "A child builds a snowman in the fresh snow."),
    (["guitar", "stage", "play", "crowd"], "A musician plays the guitar on stage in front of a crowd."),
    (["kitchen", "bread", "bake", "oven"], "He bakes bread in the oven of his small kitchen."),
    (["ball", "kick", "goal", "player"], "The player kicks the ball into the goal."),
    (["book", "read", "library", "quiet"], "Students read books in the quiet library."),
    (["horse", "ride", "beach", "sunset"], "She rides a horse along the beach at sunset."),
    (["paint", "wall", "brush", "ladder"], "A painter on a ladder paints the wall with a brush."),
    (["tree", "climb", "branch", "boy"], "The boy climbs the tree and sits on a high branch."),
    (["rain", "umbrella", "walk", "street"], "People walk down the street under umbrellas in the rain."),
    (["fish", "net", "catch", "sea"], "Fishermen catch fish in the sea with a large net."),
    (["bike", "ride", "park", "helmet"], "A boy wearing a helmet rides his bike in the park."),
    (["teacher", "board", "write", "class"], "The teacher writes on the board in front of the class."),
    (["coffee", "cup", "pour", "table"], "She pours coffee into a cup on the table."),
    (["garden", "flower", "water", "can"], "He waters the flowers in the garden with a watering can."),
    (["mountain", "climb", "rope", "team"], "A team climbs the mountain tied together with a rope."),
    (["train", "platform", "wait", "passenger"], "Passengers wait on the platform for the train."),
]


def commongen() -> None:
    card = """---
pretty_name: CommonGen-style concept-to-sentence (instructkit validity set)
license: mit
dataset_info:
  features:
  - name: concept_set_idx
    dtype: int32
  - name: concepts
    sequence: string
  - name: target
    dtype: string
  splits:
  - name: train
    num_examples: 20
---

# CommonGen-style

## Dataset Summary

Sets of everyday concepts (nouns and verbs) with a sentence that uses all of them to describe a
plausible scene.
"""
    rows = [{"concept_set_idx": i, "concepts": c, "target": t} for i, (c, t) in enumerate(COMMONGEN)]
    write("commongen_style", card, rows)


GSM = [
    ("Lena has 12 apples and gives 5 to her friend. How many apples does she have left?", "She has 12 - 5 = 7 apples left.\n#### 7"),
    ("A box holds 6 eggs. How many eggs are in 4 boxes?", "4 boxes hold 4 * 6 = 24 eggs.\n#### 24"),
    ("Tom reads 15 pages a day. How many pages does he read in a week?", "A week has 7 days, so 15 * 7 = 105 pages.\n#### 105"),
    ("A shirt costs $20 and is on sale for 25% off. What is the sale price?", "25% of 20 is 5, so the price is 20 - 5 = $15.\n#### 15"),
    ("There are 30 students and 3 buses. If each bus takes the same number, how many ride each bus?", "30 / 3 = 10 students per bus.\n#### 10"),
    ("Sam had $50. He bought a book for $18 and a pen for $4. How much money is left?", "He spent 18 + 4 = 22, so 50 - 22 = $28 is left.\n#### 28"),
    ("A garden has 8 rows of 9 carrots. How many carrots are there?", "8 * 9 = 72 carrots.\n#### 72"),
    ("Mia ran 3 km on Monday and twice as far on Tuesday. How far did she run in total?", "Tuesday: 2 * 3 = 6 km. Total: 3 + 6 = 9 km.\n#### 9"),
    ("A pizza is cut into 8 slices. Four friends eat 6 slices. How many slices are left?", "8 - 6 = 2 slices are left.\n#### 2"),
    ("A car travels 60 km per hour. How far does it go in 3 hours?", "60 * 3 = 180 km.\n#### 180"),
    ("Ana buys 3 notebooks at $2 each and 2 pens at $1 each. What does she spend?", "3 * 2 = 6 and 2 * 1 = 2, so 6 + 2 = $8.\n#### 8"),
    ("A tank holds 100 litres and is 40% full. How many litres are in it?", "40% of 100 is 40 litres.\n#### 40"),
    ("Ben is 4 years older than Kim, who is 9. How old will Ben be in 2 years?", "Ben is 9 + 4 = 13, so in 2 years he is 15.\n#### 15"),
    ("A baker makes 48 rolls and packs them in bags of 6. How many bags does he fill?", "48 / 6 = 8 bags.\n#### 8"),
    ("A movie starts at 7:30 pm and lasts 95 minutes. When does it end?", "95 minutes is 1 hour 35 minutes, so it ends at 9:05 pm.\n#### 9:05 pm"),
    ("Jo saves $5 a week. How many weeks does she need to save $65?", "65 / 5 = 13 weeks.\n#### 13"),
    ("A class has 14 girls and 16 boys. What fraction are girls?", "14 of 30 students, which is 7/15.\n#### 7/15"),
    ("A rope 24 m long is cut into 4 equal pieces. How long is each piece?", "24 / 4 = 6 m.\n#### 6"),
    ("Eli scored 7, 9 and 8 in three games. What is his average score?", "7 + 9 + 8 = 24 and 24 / 3 = 8.\n#### 8"),
    ("A farmer has 5 cows and 3 times as many sheep. How many animals does he have?", "Sheep: 3 * 5 = 15. Total: 5 + 15 = 20.\n#### 20"),
]


def gsm() -> None:
    card = """---
pretty_name: GSM8K-style math word problems (instructkit validity set)
license: mit
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train.jsonl
dataset_info:
  config_name: main
  features:
  - name: question
    dtype: string
  - name: answer
    dtype: string
  splits:
  - name: train
    num_examples: 20
---

# GSM8K-style

## Dataset Summary

Grade-school math word problems. Each answer explains the steps and ends with `#### ` and the final
number.
"""
    d = ROOT / "gsm8k_style"
    (d / "main").mkdir(parents=True, exist_ok=True)
    write("gsm8k_style", card, [{"question": q, "answer": a} for q, a in GSM], file="main/train.jsonl")


CONLL = [
    ("EU rejects German call to boycott British lamb .", [3, 0, 7, 0, 0, 0, 7, 0, 0]),
    ("Peter Blackburn visited Brussels on Monday .", [1, 2, 0, 5, 0, 0, 0]),
    ("The European Commission said on Thursday it disagreed .", [0, 3, 4, 0, 0, 0, 0, 0, 0]),
    ("Germany 's representative to the council , Werner Zwingmann , spoke .", [5, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0]),
    ("Maria Lopez joined Siemens in Munich last year .", [1, 2, 0, 3, 0, 5, 0, 0, 0]),
    ("Rain delayed the match between Kent and Surrey .", [0, 0, 0, 0, 0, 3, 0, 3, 0]),
    ("Japanese shares closed higher in Tokyo on Friday .", [7, 0, 0, 0, 0, 5, 0, 0, 0]),
    ("Reuters reported that Apple will open a store in Paris .", [3, 0, 0, 3, 0, 0, 0, 0, 0, 5, 0]),
    ("Coach Ana Silva praised her team after the win .", [0, 1, 2, 0, 0, 0, 0, 0, 0, 0]),
    ("The Dutch government met union leaders in The Hague .", [0, 7, 0, 0, 0, 0, 0, 5, 6, 0]),
    ("Toyota and Honda raised prices in Canada .", [3, 0, 3, 0, 0, 0, 5, 0]),
    ("John Smith of the United Nations arrived in Nairobi .", [1, 2, 0, 0, 3, 4, 0, 0, 5, 0]),
    ("French wine exports to China rose sharply .", [7, 0, 0, 0, 5, 0, 0, 0]),
    ("Liverpool beat Chelsea 2-1 at Anfield .", [3, 0, 3, 0, 0, 5, 0]),
    ("Prime Minister Kato visited Berlin and Vienna .", [0, 0, 1, 0, 5, 0, 5, 0]),
    ("The Olympic committee chose Brisbane for 2032 .", [0, 7, 0, 0, 5, 0, 0, 0]),
    ("Microsoft hired Sara Chen as chief scientist .", [3, 0, 1, 2, 0, 0, 0, 0]),
    ("Floods hit northern Italy on Sunday .", [0, 0, 0, 5, 0, 0, 0]),
    ("Indian batsman Raj Patel scored a century .", [7, 0, 1, 2, 0, 0, 0, 0]),
    ("The Nile flows through Egypt and Sudan .", [0, 5, 0, 0, 5, 0, 5, 0]),
]


def conll() -> None:
    card = """---
pretty_name: CoNLL-2003-style named entities (instructkit validity set)
license: other
dataset_info:
  features:
  - name: id
    dtype: string
  - name: tokens
    sequence: string
  - name: ner_tags
    sequence:
      class_label:
        names:
          '0': O
          '1': B-PER
          '2': I-PER
          '3': B-ORG
          '4': I-ORG
          '5': B-LOC
          '6': I-LOC
          '7': B-MISC
          '8': I-MISC
  splits:
  - name: train
    num_examples: 20
---

# CoNLL-2003-style

## Dataset Summary

News sentences split into tokens, each token tagged as part of a person, organisation, location or
miscellaneous name (BIO tags), or O for outside any name.
"""
    rows = [{"id": str(i), "tokens": s.split(), "ner_tags": t} for i, (s, t) in enumerate(CONLL)]
    for r in rows:
        assert len(r["tokens"]) == len(r["ner_tags"]), r
    write("conll_style", card, rows)


if __name__ == "__main__":
    for make in (arc, csqa, drop, mnli, xsum, yahoo, sst_with_stray_json, commongen, gsm, conll):
        make()
    print(f"wrote {len(list(ROOT.iterdir()))} datasets under {ROOT}")
