from textual.screen import Screen
class TemplateScreen(Screen[None]):
    def preload(self, template=None, event=None): pass
