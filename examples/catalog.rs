//! A generated book catalog and search terms for it, for benchmarks.
//!
//! ```text
//! cargo run --release --example catalog -- books N [--seed S] > books.csv
//! cargo run --release --example catalog -- terms N [--seed S] > terms.txt
//! ```
//!
//! `books` prints a CSV in `shelf import`'s format (title, author,
//! published_year, isbn, rating, specifications_flat); `terms` prints N
//! distinct search terms, one per line. Both draw from one vocabulary that
//! does not depend on the seed, so terms from any seed fit a catalog from
//! any seed; the seed picks the rows and the terms. Output is the same for
//! the same arguments (with the `rand` version in `Cargo.lock`).
//!
//! Words follow a Zipf-like law, as in real titles: a few words are in a
//! large share of the catalog ("the" in about half the titles), most are
//! rare. The terms mix what people type: whole words, fragments of
//! words, two-letter fragments, multi-word phrases, author names, a few
//! terms that match half the catalog and a few that match nothing.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
#[command(about = "Generate a book catalog (CSV) or search terms for benchmarks")]
struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// N books as CSV with `shelf import`'s header.
    Books {
        n: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// N distinct search terms, one per line.
    Terms {
        n: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// The vocabulary is built from this, whatever `--seed` says, so that terms
/// and catalogs generated with different seeds still share their words.
const VOCABULARY_SEED: u64 = 0x5e1f;
/// Invented words after the real ones; enough that rare words are rare at
/// a million books.
const INVENTED_WORDS: usize = 40_000;
const INVENTED_SURNAMES: usize = 20_000;

/// Title words by rank: the head of the Zipf curve is real English.
const COMMON_WORDS: &[&str] = &[
    "Love",
    "Night",
    "House",
    "War",
    "Life",
    "World",
    "Story",
    "Secret",
    "Man",
    "Woman",
    "Time",
    "Day",
    "Dark",
    "Light",
    "Last",
    "City",
    "Heart",
    "Blood",
    "Shadow",
    "King",
    "Queen",
    "Girl",
    "Boy",
    "Garden",
    "River",
    "Sea",
    "Stone",
    "Fire",
    "Water",
    "Winter",
    "Summer",
    "Death",
    "Star",
    "Moon",
    "Sun",
    "Road",
    "Home",
    "Book",
    "Door",
    "Island",
    "Mountain",
    "Forest",
    "Wind",
    "Storm",
    "Silver",
    "Golden",
    "Black",
    "White",
    "Red",
    "Blue",
    "Green",
    "Lost",
    "Hidden",
    "Broken",
    "Silent",
    "Wild",
    "Little",
    "Great",
    "New",
    "Old",
    "Long",
    "First",
    "Second",
    "Dream",
    "Song",
    "Game",
    "Empire",
    "Kingdom",
    "Journey",
    "Voyage",
    "Return",
    "Memory",
    "Promise",
    "Truth",
    "Lie",
    "Mirror",
    "Window",
    "Bridge",
    "Tower",
    "Castle",
    "Street",
    "Village",
    "Country",
    "Children",
    "Daughter",
    "Son",
    "Mother",
    "Father",
    "Brother",
    "Sister",
    "Friend",
    "Stranger",
    "Enemy",
    "Soldier",
    "Doctor",
    "Teacher",
    "Thief",
    "Ghost",
    "Angel",
    "Devil",
    "God",
    "History",
    "Science",
    "Art",
    "Music",
    "Poems",
    "Letters",
    "Tales",
    "Notes",
    "Guide",
    "Handbook",
    "Introduction",
    "Theory",
    "Practice",
    "Mystery",
    "Murder",
    "Crime",
    "Justice",
    "Freedom",
    "Power",
    "Glory",
    "Honour",
    "Courage",
    "Fear",
    "Hope",
    "Café",
    "Señor",
    "Émigré",
    "Über",
    "Straße",
    "Fjord",
    "Naïve",
];

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Margaret",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Dorothy",
    "Paul",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Edward",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Timothy",
    "Rebecca",
    "Jason",
    "Laura",
    "Jeffrey",
    "Sharon",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Shirley",
    "Eric",
    "Angela",
    "Jonathan",
    "Helen",
    "Stephen",
    "Anna",
    "Larry",
    "Brenda",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Emma",
    "Frank",
    "Samantha",
    "Benjamin",
    "Katherine",
    "Gregory",
    "Christine",
    "Samuel",
    "Debra",
    "Raymond",
    "Rachel",
    "Patrick",
    "Catherine",
    "Alexander",
    "Carolyn",
    "Jack",
    "Janet",
    "Dennis",
    "Ruth",
    "Jerry",
    "Maria",
    "Tyler",
    "Heather",
    "Aaron",
    "Diane",
    "José",
    "Virginia",
    "Adam",
    "Julie",
    "Henry",
    "Joyce",
    "Nathan",
    "Victoria",
    "Douglas",
    "Olivia",
    "Zachary",
    "Kelly",
    "Peter",
    "Christina",
    "Kyle",
    "Lauren",
    "Walter",
    "Joan",
    "Ethan",
    "Evelyn",
    "Jeremy",
    "Judith",
    "Harold",
    "Megan",
    "Keith",
    "Cheryl",
    "Christian",
    "Andrea",
    "Roger",
    "Hannah",
    "Noah",
    "Martha",
    "Gerald",
    "Jacqueline",
    "Carl",
    "Frances",
    "Terry",
    "Gloria",
    "Sean",
    "Ann",
    "Austin",
    "Teresa",
    "Arthur",
    "Kathryn",
    "Lawrence",
    "Sara",
    "Jesse",
    "Janice",
    "Dylan",
    "Jean",
    "Bryan",
    "Alice",
    "Joe",
    "Madison",
    "Jordan",
    "Doris",
    "Billy",
    "Abigail",
    "Bruce",
    "Julia",
    "Albert",
    "Judy",
    "Willie",
    "Grace",
    "Gabriel",
    "Denise",
    "Logan",
    "Amber",
    "Alan",
    "Marilyn",
    "Juan",
    "Beverly",
    "Wayne",
    "Danielle",
    "Roy",
    "Theresa",
    "Ralph",
    "Sophia",
    "Randy",
    "Marie",
    "Eugene",
    "Diana",
    "Vincent",
    "Brittany",
    "Russell",
    "Natalie",
    "Elijah",
    "Isabella",
    "Louis",
    "Charlotte",
    "Bobby",
    "Rose",
    "Philip",
    "Alexis",
    "Johnny",
    "Kayla",
    "Zoë",
    "Søren",
    "Åsa",
    "Chloé",
];

const GENRES: &[&str] = &[
    "novel",
    "mystery",
    "romance",
    "science fiction",
    "fantasy",
    "history",
    "biography",
    "poetry",
    "essays",
    "travel",
    "children",
    "horror",
    "philosophy",
    "science",
    "cookery",
    "drama",
    "thriller",
    "memoir",
];
const LANGUAGES: &[&str] = &["English", "English", "English", "French", "German", "Spanish", "Italian"];

/// Words and names with Zipf-like weights, built from `VOCABULARY_SEED`.
struct Vocabulary {
    words: Vec<String>,
    word_rank: WeightedIndex<f64>,
    surnames: Vec<String>,
    surname_rank: WeightedIndex<f64>,
    first_rank: WeightedIndex<f64>,
}

/// Weights `1 / (rank + 2.7)^exponent`: the offset flattens the very top so
/// that the commonest word is in a large share of titles, not all of them.
fn zipf(n: usize, exponent: f64) -> WeightedIndex<f64> {
    WeightedIndex::new((0..n).map(|rank| 1.0 / (rank as f64 + 2.7).powf(exponent)))
        .unwrap_or_else(|e| unreachable!("weights are positive and finite: {e}"))
}

/// A pronounceable invented word of `syllables` syllables, capitalized.
fn invented(rng: &mut StdRng, syllables: usize) -> String {
    const ONSETS: &[&str] = &[
        "b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pr", "qu",
        "r", "s", "sh", "sl", "st", "t", "th", "tr", "v", "w", "y", "z",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "oo", "ou", "y"];
    const CODAS: &[&str] = &["", "", "", "n", "r", "s", "l", "nd", "st", "ck", "m", "t", "rk", "x"];
    let mut word = String::new();
    for _ in 0..syllables {
        for part in [ONSETS, VOWELS, CODAS] {
            word.push_str(part.choose(rng).copied().unwrap_or_default());
        }
    }
    capitalize(&word)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

impl Vocabulary {
    fn new() -> Self {
        let mut rng = StdRng::seed_from_u64(VOCABULARY_SEED);
        let mut seen: HashSet<String> = COMMON_WORDS.iter().map(|w| w.to_lowercase()).collect();
        let mut words: Vec<String> = COMMON_WORDS.iter().map(|w| (*w).to_owned()).collect();
        while words.len() < COMMON_WORDS.len() + INVENTED_WORDS {
            let syllables = rng.random_range(2..=3);
            let word = invented(&mut rng, syllables);
            if seen.insert(word.to_lowercase()) {
                words.push(word);
            }
        }
        let mut surnames: Vec<String> = Vec::with_capacity(INVENTED_SURNAMES);
        let mut seen = HashSet::new();
        while surnames.len() < INVENTED_SURNAMES {
            let syllables = rng.random_range(1..=3);
            let name = invented(&mut rng, syllables);
            if seen.insert(name.clone()) {
                surnames.push(name);
            }
        }
        Self {
            word_rank: zipf(words.len(), 1.0),
            words,
            surname_rank: zipf(surnames.len(), 0.9),
            surnames,
            first_rank: zipf(FIRST_NAMES.len(), 0.7),
        }
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        &self.words[self.word_rank.sample(rng)]
    }

    fn surname(&self, rng: &mut StdRng) -> &str {
        &self.surnames[self.surname_rank.sample(rng)]
    }

    fn first_name(&self, rng: &mut StdRng) -> &str {
        FIRST_NAMES[self.first_rank.sample(rng)]
    }

    /// A word as searched for: people look for what is there, so common
    /// words are searched more often than they occur (the commoner of
    /// two draws).
    fn searched_word(&self, rng: &mut StdRng) -> &str {
        &self.words[self.word_rank.sample(rng).min(self.word_rank.sample(rng))]
    }

    fn searched_surname(&self, rng: &mut StdRng) -> &str {
        &self.surnames[self.surname_rank.sample(rng).min(self.surname_rank.sample(rng))]
    }

    fn title(&self, rng: &mut StdRng) -> String {
        let a = self.word(rng);
        let b = self.word(rng);
        match rng.random_range(0..100) {
            0..22 => format!("The {a} of the {b}"),
            22..34 => format!("The {a} {b}"),
            34..44 => format!("The {a}"),
            44..56 => format!("{a} and {b}"),
            56..68 => format!("{a} {b}"),
            68..76 => a.to_owned(),
            76..84 => format!("A {a} in the {b}"),
            84..92 => format!("{a}: {b} {}", self.word(rng)),
            _ => format!("{a} of {b}, {}", self.word(rng)),
        }
    }

    fn author(&self, rng: &mut StdRng) -> String {
        let first = self.first_name(rng);
        let last = self.surname(rng);
        match rng.random_range(0..100) {
            0..80 => format!("{first} {last}"),
            80..92 => format!("{first} {}. {last}", char::from(b'A' + rng.random_range(0..26u8))),
            _ => format!("{first} {last}-{}", self.surname(rng)),
        }
    }
}

/// A valid ISBN-13, or ISBN-10 (check digit possibly `X`), sometimes with
/// hyphens as people write them.
fn isbn(rng: &mut StdRng) -> String {
    let digits: Vec<u32> = if rng.random_bool(0.8) {
        let mut d = vec![9, 7, if rng.random_bool(0.9) { 8 } else { 9 }];
        d.extend((0..9).map(|_| rng.random_range(0..10)));
        let sum: u32 = d.iter().enumerate().map(|(i, v)| if i % 2 == 0 { *v } else { v * 3 }).sum();
        d.push((10 - sum % 10) % 10);
        d
    } else {
        let mut d: Vec<u32> = (0..9).map(|_| rng.random_range(0..10)).collect();
        let sum: u32 = d.iter().enumerate().map(|(i, v)| v * (10 - i as u32)).sum();
        d.push((11 - sum % 11) % 11);
        d
    };
    let text: String = digits.iter().map(|d| if *d == 10 { 'X' } else { char::from(b'0' + *d as u8) }).collect();
    if rng.random_bool(0.3) && text.len() == 13 {
        format!("{}-{}-{}-{}-{}", &text[..3], &text[3..4], &text[4..7], &text[7..12], &text[12..])
    } else {
        text
    }
}

fn books(n: u64, seed: u64, out: impl Write) -> io::Result<()> {
    let vocabulary = Vocabulary::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(["title", "author", "published_year", "isbn", "rating", "specifications_flat"]).map_err(csv_io)?;
    for _ in 0..n {
        let title = vocabulary.title(&mut rng);
        let author = vocabulary.author(&mut rng);
        let year = if rng.random_bool(0.95) {
            // Skewed to recent centuries, like a real catalog.
            let back = (rng.random::<f64>().powi(3) * 500.0) as i32;
            (2025 - back).to_string()
        } else {
            String::new()
        };
        let isbn = if rng.random_bool(0.7) { isbn(&mut rng) } else { String::new() };
        let rating = if rng.random_bool(0.8) { format!("{:.1}", rng.random_range(0.0..=5.0)) } else { String::new() };
        let specifications = if rng.random_bool(0.7) {
            format!(
                "Genre: {}, {}; Pages: {}; Language: {}",
                GENRES.choose(&mut rng).copied().unwrap_or_default(),
                GENRES.choose(&mut rng).copied().unwrap_or_default(),
                rng.random_range(40..1200),
                LANGUAGES.choose(&mut rng).copied().unwrap_or_default()
            )
        } else {
            String::new()
        };
        csv.write_record([&title, &author, &year, &isbn, &rating, &specifications]).map_err(csv_io)?;
    }
    csv.flush()
}

/// Keeps an I/O error's kind, so a closed pipe is still recognised.
fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// `len` characters of `word` from a random position (the whole word if
/// shorter).
fn fragment(rng: &mut StdRng, word: &str, len: usize) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= len {
        return word.to_owned();
    }
    let start = rng.random_range(0..=chars.len() - len);
    chars[start..start + len].iter().collect()
}

fn term(vocabulary: &Vocabulary, rng: &mut StdRng) -> String {
    let term = match rng.random_range(0..100) {
        // Whole title words, common ones most often.
        0..30 => vocabulary.searched_word(rng).to_owned(),
        // What someone types before finishing a word.
        30..50 => {
            let (word, len) = (vocabulary.searched_word(rng), rng.random_range(3..=6));
            fragment(rng, word, len)
        }
        // Two letters: below a trigram, and common ones are everywhere.
        50..56 => {
            let word = vocabulary.searched_word(rng);
            fragment(rng, word, 2)
        }
        // Phrases from titles.
        56..68 => {
            let title = vocabulary.title(rng);
            let words: Vec<&str> = title.split(' ').collect();
            let take = if rng.random_bool(0.75) { 2 } else { 3 }.min(words.len());
            let start = rng.random_range(0..=words.len() - take);
            words[start..start + take].join(" ").trim_end_matches([',', ':']).to_owned()
        }
        // Authors, in part or whole.
        68..80 => vocabulary.searched_surname(rng).to_owned(),
        80..86 => format!("{} {}", vocabulary.first_name(rng), vocabulary.searched_surname(rng)),
        86..90 => vocabulary.first_name(rng).to_owned(),
        // Terms that match half the catalog or more.
        90..94 => {
            ["the", "The", "of the", "and", "an", "in", "e", "a"].choose(rng).copied().unwrap_or("the").to_owned()
        }
        // Nothing in the vocabulary contains "qz", "xj" or a digit.
        _ => {
            let (word, len) = (vocabulary.word(rng), rng.random_range(3..=5));
            let base = fragment(rng, word, len);
            let junk = ["qz", "xj", "7"].choose(rng).copied().unwrap_or("qz");
            format!("{base}{junk}")
        }
    };
    match rng.random_range(0..10) {
        0..6 => term.to_lowercase(),
        6..8 => term,
        _ => term.to_uppercase(),
    }
}

fn terms(n: usize, seed: u64, mut out: impl Write) -> io::Result<()> {
    let vocabulary = Vocabulary::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = HashSet::with_capacity(n);
    // The vocabulary allows millions of distinct terms; give up long before
    // looping forever on an absurd N.
    let mut attempts = 0_usize;
    while seen.len() < n {
        attempts += 1;
        if attempts > n.saturating_mul(50).max(1000) {
            return Err(io::Error::other(format!("only {} distinct terms found", seen.len())));
        }
        let term = term(&vocabulary, &mut rng);
        if term.trim().is_empty() || seen.contains(&term) {
            continue;
        }
        writeln!(out, "{term}")?;
        seen.insert(term);
    }
    out.flush()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let result = match args.what {
        What::Books { n, seed } => books(n, seed, out),
        What::Terms { n, seed } => terms(n, seed, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("catalog: {e}");
            ExitCode::FAILURE
        }
    }
}
