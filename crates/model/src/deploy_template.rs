//! Deploy templates (1.55): named lists of deploy steps applied when an instance requests their trait.
