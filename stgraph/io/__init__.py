"""File input and output: readers, checked downloads and atomic writes."""
