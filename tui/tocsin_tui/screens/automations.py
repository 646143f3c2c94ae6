from textual.screen import Screen
class AutomationsScreen(Screen[None]):
    pass
