from django import template

from motcua.text import person_name

register = template.Library()
register.filter("person", person_name)
