"""The notebook shell: magics, the widget transcript, the text view."""
