"""Languages: babel catalogs from locales/, locale choice, plural forms, dates and money."""
